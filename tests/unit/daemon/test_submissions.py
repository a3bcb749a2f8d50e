"""Submitting with a request id is idempotent, even when the Hub's answer is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub

from aihubd.errors import HubUnavailable, InvalidArgument
from aihubd.model import Device
from aihubd.services.submissions import ModelSource, Submitter
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import ArtifactIndex
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.store.submissions import SubmissionJournal
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

DEVICE = "Snapdragon 8 Elite QRD"


def _submitter(db: Database, hub: FakeHub) -> Submitter:
    store = JobStore(db)
    poller = Poller(hub, store, Notifier(), Schedule(Cadence(base=3600, cap=3600)))
    return Submitter(hub, store, poller, UploadService(hub, ArtifactIndex(db)), SubmissionJournal(db))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "aihubd.db")
    yield database
    await database.close()


@pytest.fixture
def models(tmp_path: Path) -> list[ModelSource]:
    out = []
    for name in ("a", "b"):
        (tmp_path / f"{name}.dlc").write_bytes(name.encode() * 100)
        out.append(ModelSource(path=str(tmp_path / f"{name}.dlc")))
    return out


async def test_retry_with_the_same_request_id_returns_the_same_job(db: Database, models: list[ModelSource]) -> None:
    hub = FakeHub()
    submitter = _submitter(db, hub)
    first = await submitter.submit(models, DEVICE, name="x", request_id="req-1")
    again = await submitter.submit(models, DEVICE, name="x", request_id="req-1")
    assert again.job_id == first.job_id
    assert hub.calls["create_link_job"] == 1


async def test_a_lost_create_answer_is_recovered_not_repeated(db: Database, models: list[ModelSource]) -> None:
    hub = FakeHub()
    hub.drop_after_create = True  # the Hub created the job; the daemon never heard back
    job = await _submitter(db, hub).submit(models, DEVICE, name="x", request_id="req-2")
    assert hub.calls["create_link_job"] == 1 and job.job_id in hub.jobs


async def test_a_crash_after_create_is_recovered_after_restart(
    db: Database, models: list[ModelSource], tmp_path: Path
) -> None:
    hub = FakeHub()
    hub.drop_after_create = True
    hub_list = hub.list_link_job_summaries

    async def listing_down(*args: object, **kwargs: object) -> object:
        raise HubUnavailable("the Hub is unavailable (503)")

    hub.list_link_job_summaries = listing_down  # type: ignore[method-assign]
    with pytest.raises(HubUnavailable):  # the daemon could not tell whether the job exists
        await _submitter(db, hub).submit(models, DEVICE, name="x", request_id="req-3")
    assert hub.calls["create_link_job"] == 1

    hub.drop_after_create = False
    hub.list_link_job_summaries = hub_list  # type: ignore[method-assign]
    restarted = _submitter(db, hub)  # same database: the journal remembers the request
    job = await restarted.submit(models, DEVICE, name="x", request_id="req-3")
    assert hub.calls["create_link_job"] == 1 and job.name == "x"


async def test_without_a_request_id_each_submit_is_a_new_job(db: Database, models: list[ModelSource]) -> None:
    hub = FakeHub()
    submitter = _submitter(db, hub)
    a = await submitter.submit(models, DEVICE)
    b = await submitter.submit(models, DEVICE)
    assert a.job_id != b.job_id and hub.calls["create_link_job"] == 2


async def test_a_request_id_reused_for_other_inputs_is_refused(db: Database, models: list[ModelSource]) -> None:
    submitter = _submitter(db, FakeHub())
    await submitter.submit(models, DEVICE, name="x", request_id="req-4")
    with pytest.raises(InvalidArgument, match="different submission"):
        await submitter.submit(models[:1], DEVICE, name="x", request_id="req-4")


class _Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _patient_submitter(db: Database, hub: FakeHub, sleeps: _Sleeps) -> Submitter:
    store = JobStore(db)
    poller = Poller(hub, store, Notifier(), Schedule(Cadence(base=3600, cap=3600)))
    return Submitter(hub, store, poller, UploadService(hub, ArtifactIndex(db)), SubmissionJournal(db), sleep=sleeps)


async def test_a_refused_create_is_retried_as_patiently_as_the_official_client(
    db: Database, models: list[ModelSource]
) -> None:
    hub, sleeps = FakeHub(), _Sleeps()
    hub.refuse_creates = 6  # the official client makes 7 attempts in all
    job = await _patient_submitter(db, hub, sleeps).submit(models, DEVICE, name="x")
    assert hub.calls["create_link_job"] == 7 and list(hub.jobs) == [job.job_id]
    assert hub.calls["list_summaries"] == 6  # before each retry: did the last attempt create it after all?
    assert sum(sleeps.waits) >= 46.5  # at least the official client's ~46.5 s of read backoff


async def test_a_lost_create_answer_without_a_request_id_is_recovered_not_repeated(
    db: Database, models: list[ModelSource]
) -> None:
    hub, sleeps = FakeHub(), _Sleeps()
    hub.drop_after_create = True
    job = await _patient_submitter(db, hub, sleeps).submit(models, DEVICE, name="x")
    assert hub.calls["create_link_job"] == 1 and list(hub.jobs) == [job.job_id]


async def test_without_a_name_the_job_is_named_after_the_last_hub_model(db: Database, tmp_path: Path) -> None:
    hub = FakeHub()
    hub.models = {"mA": "encoder.dlc", "mB": "decoder.dlc"}
    submitter = _submitter(db, hub)
    by_ids = await submitter.submit([ModelSource(model_id="mA"), ModelSource(model_id="mB")], DEVICE)
    assert by_ids.name == "decoder.dlc"  # the official client: name if name else hub_models[-1].name
    (tmp_path / "tail.dlc").write_bytes(b"t" * 10)
    path_last = await submitter.submit(
        [ModelSource(model_id="mA"), ModelSource(path=str(tmp_path / "tail.dlc"))], DEVICE
    )
    assert path_last.name == "tail.dlc"
    named = await submitter.submit([ModelSource(model_id="mA")], DEVICE, name="mine")
    assert named.name == "mine"


async def test_a_device_name_the_hub_resolves_to_several_devices_is_refused_listing_them(
    db: Database, models: list[ModelSource]
) -> None:
    hub = FakeHub()
    hub.devices["Samsung Galaxy S24"] = [
        Device("Samsung Galaxy S24", "14", ("framework:qnn",)),
        Device("Samsung Galaxy S24", "15", ("framework:qnn",)),
    ]
    with pytest.raises(InvalidArgument) as info:
        await _submitter(db, hub).submit(models, "Samsung Galaxy S24")
    message = str(info.value)
    assert "matches 2 Hub devices" in message and "(OS 14)" in message and "(OS 15)" in message
    assert hub.calls["create_link_job"] == 0


async def test_a_lost_create_the_poller_adopted_first_is_recovered_not_repeated(
    db: Database, models: list[ModelSource]
) -> None:
    """With --hub-scope mine the poller may adopt the job a lost create made (it is in the
    creator listing) before the submit looks for it: the job is the submission's all the same."""
    hub = FakeHub()
    store = JobStore(db)
    poller = Poller(hub, store, Notifier(), Schedule(Cadence(base=3600, cap=3600)))
    journal = SubmissionJournal(db)
    submitter = Submitter(hub, store, poller, UploadService(hub, ArtifactIndex(db)), journal, sleep=_Sleeps())
    create = hub.create_link_job

    async def create_then_adopted(*args: Any, **kwargs: Any) -> str:
        try:
            return await create(*args, **kwargs)
        finally:  # the answer is lost; meanwhile a poll cycle saved the new job
            await store.save([await hub.get_job(next(reversed(hub.jobs)))])

    hub.drop_after_create = True
    hub.create_link_job = create_then_adopted  # type: ignore[method-assign]
    job = await submitter.submit(models, DEVICE, name="x", request_id="req-adopted")
    assert hub.calls["create_link_job"] == 1 and list(hub.jobs) == [job.job_id]
