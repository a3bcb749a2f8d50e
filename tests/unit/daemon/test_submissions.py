"""Submitting with a request id is idempotent, even when the Hub's answer is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.errors import HubUnavailable, InvalidArgument
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
