"""The whole ``qai_hub.LinkJob`` API of ``aihubd_client``, through a real daemon and the emulator.

One emulator (manual mode: jobs move only on ``advance``) and one daemon (poll interval 1 h:
it sees a change only on ``refresh``) serve the whole module; every test makes its own jobs.
A blocking call is shown to block by starting it in a thread, checking it has not returned,
then finishing the job.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import qai_hub as hub
from e2e_support import TEST_TOKEN, Daemon, Emulator, finish_job, hub_writes, make_dlc, refresh, start_hub_daemon

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client import (
    ArtifactType,
    AsyncClient,
    Client,
    Device,
    HubUnavailableError,
    JobArtifactType,
    JobStatus,
    LinkJob,
    LinkJobResult,
    Model,
    NotFoundError,
    SourceModelType,
    UserError,
)

DEVICE = "Snapdragon 8 Elite QRD"
OTHER_TOKEN = "test-token-second-user"
UNIQUIFIED = re.compile(r"job_\w+_optimized_bin_\d\d\.\d\d\.\d\d\.\d{6}\.bin")


# ---------------------------------------------------------------------------- fixtures
# hub_emulator, served (the module's emulator and daemon) and broken come from conftest.py.


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("models")
    shared = bytes(range(256)) * 32
    return (make_dlc(base / "graph_a.dlc", b"A" + shared), make_dlc(base / "graph_b.dlc", b"B" + shared))


@pytest.fixture(scope="module")
def pending_job(served: Daemon, models: tuple[Path, Path]) -> str:
    """A job that stays CREATED: never advanced (for timeouts and argument checks)."""
    with Client(served.socket) as client:
        return _submit(client, models, name="never advanced").job_id


@pytest.fixture
def client(served: Daemon) -> Iterator[Client]:
    with Client(served.socket) as instance:
        yield instance


@pytest.fixture(scope="module")
def official(hub_emulator: Emulator) -> hub.Client:
    """The official client, as the same user as the daemon."""
    return hub.Client(config=_config(hub_emulator, TEST_TOKEN))


def _config(emulator: Emulator, token: str) -> hub.ClientConfig:
    return hub.ClientConfig(api_token=token, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False)


# ---------------------------------------------------------------------------- helpers


class Call(threading.Thread):
    """Runs a blocking call in a thread; ``result`` or ``error`` once it returns."""

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.function = function
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.function()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def still_blocked(self) -> bool:
        self.join(0.2)
        return self.is_alive()

    def value(self) -> Any:
        self.join(30)
        assert not self.is_alive(), "the call did not return"
        if self.error is not None:
            raise self.error
        return self.result


def _submit(client: Client, models: tuple[Path, Path] | list[Any], **kwargs: Any) -> LinkJob:
    job = client.submit_link_job(list(models), DEVICE, **kwargs)
    assert isinstance(job, LinkJob)
    return job


def _finished_job(
    client: Client, emulator: Emulator, daemon: Daemon, models: Any, final: int = api.JOB_STATE_DONE
) -> LinkJob:
    job = _submit(client, models)
    finish_job(emulator, daemon, job.job_id, final)
    job.get_status()
    return job


# ---------------------------------------------------------------------------- submit_link_job


def test_submit_takes_paths_ids_official_models_and_devices(client, served, hub_emulator, models, official):
    uploaded = official.upload_model(str(models[1]))  # a qai_hub.Model (type QNN_DLC)
    job = client.submit_link_job([str(models[0]), uploaded], hub.Device(DEVICE), name="mixed", options="  --foo  ")
    assert isinstance(job, LinkJob)
    assert [m.model_id for m in job.models][1] == uploaded.model_id
    assert (job.name, job.options, job.device.name) == ("mixed", "--foo", DEVICE)
    again = client.submit_link_job([job.models[0].model_id, uploaded.model_id], DEVICE)
    assert [m.model_id for m in again.models] == [m.model_id for m in job.models]
    assert again.name == "graph_b.dlc"  # the Hub's default: the last model's name


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (lambda d: [d / "model.onnx"], "{d}/model.onnx is not a QNN DLC model (.dlc)"),
        (lambda d: [d / "graph_a.dlc", d / "notes.txt"], "{d}/notes.txt is not a QNN DLC model (.dlc)"),
        (lambda d: [], "A link job takes at least one input model."),
        (lambda d: [d / "graph_a.dlc", str(d / "graph_a.dlc")], "All input models to a link job must be distinct."),
        (lambda d: [None], "Model passed in was 'None'"),
    ],
    ids=["onnx", "one-not-dlc", "empty", "duplicates", "none"],
)
def test_submit_checks_like_the_official_client_before_sending_anything(
    served, hub_emulator, models, tmp_path, arguments, message
):
    directory = models[0].parent
    hub_emulator.reset_counters()
    with Client(served.socket) as client, pytest.raises(UserError) as caught:
        client.submit_link_job(arguments(directory), DEVICE)
    assert str(caught.value).startswith(message.format(d=directory))
    assert hub_writes(hub_emulator) == []  # nothing reached the Hub (background polls only read)
    # ... nor the daemon: a client whose daemon does not exist raises the same error.
    with (
        Client(tmp_path / "nobody.sock") as nowhere,
        pytest.raises(UserError, match=re.escape(message.format(d=directory))),
    ):
        nowhere.submit_link_job(arguments(directory), DEVICE)


def test_submit_with_the_same_request_id_returns_the_same_job(client, models):
    first = _submit(client, models, request_id="same-key-linkjob-api")
    second = _submit(client, models, request_id="same-key-linkjob-api")
    assert first.job_id == second.job_id


def test_submit_retries_while_the_hub_is_unavailable_with_one_request_id(served, hub_emulator, models):
    """The daemon answers UNAVAILABLE (Hub 503 on job creation): the client tries again with the
    same request id, then gives up; a later submit with that id creates exactly one job."""
    with Client(served.socket, submit_backoff=(0.05, 0.05, 0.05)) as client:
        hub_emulator.set_faults({"rate": 1, "kinds": ["503"], "only": ["POST /api/v1/jobs/"]})
        try:
            before = hub_emulator.fault_counts().get("503", 0)
            with pytest.raises(HubUnavailableError, match="503"):
                client.submit_link_job(list(models), DEVICE, name="hub trouble", request_id="hub-trouble-1")
            assert hub_emulator.fault_counts()["503"] - before == 4  # one attempt and three retries
        finally:
            hub_emulator.set_faults(None)
        job = _submit(client, models, name="hub trouble", request_id="hub-trouble-1")
        again = _submit(client, models, name="hub trouble", request_id="hub-trouble-1")
        assert again.job_id == job.job_id
        assert [j.job_id for j in client.get_jobs(name="hub trouble")] == [job.job_id]


def test_unknown_device_is_not_found(client, models):
    with pytest.raises(NotFoundError, match="No Such Phone"):
        client.submit_link_job(list(models), "No Such Phone")


# ---------------------------------------------------------------------------- attributes, status


def test_job_has_the_official_attributes(client, models):
    before = datetime.now().replace(microsecond=0) - timedelta(seconds=5)
    job = _submit(client, models, name="attributes", options="--x")
    assert re.fullmatch(r"j\w+", job.job_id)
    assert job.name == "attributes" and job.options == "--x"
    assert isinstance(job.date, datetime) and before <= job.date <= datetime.now() + timedelta(seconds=5)
    assert isinstance(job.device, Device) and job.device.name == DEVICE
    assert "framework:qnn" in job.device.attributes
    assert [m.name for m in job.models] == ["graph_a.dlc", "graph_b.dlc"]
    assert all(m.model_id for m in job.models)
    assert job.project_id is None
    web = client.daemon_info().web_url.rstrip("/")
    assert job.url == f"{web}/jobs/{job.job_id}/"
    fetched = client.get_job(job.job_id)
    assert (fetched.name, fetched.date, fetched.url) == (job.name, job.date, job.url)


def test_get_status_never_blocks_and_follows_the_hub(client, served, hub_emulator, models):
    job = _submit(client, models)
    status = job.get_status()
    assert isinstance(status, JobStatus) and isinstance(status, str)
    assert status == "CREATED" and status.pending and not status.finished
    hub_emulator.advance(job.job_id)
    refresh(served.socket)
    status = job.get_status()
    assert status == "LINKING_MODELS" and status.running and status.code == "LINKING_MODELS"
    assert isinstance(job.last_refresh_time, datetime) and job.stale is False


def test_wait_blocks_until_the_job_finishes(client, served, hub_emulator, models):
    job = _submit(client, models)
    call = Call(job.wait)
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    status = call.value()
    assert status == "SUCCESS" and status.success and status.finished and status.message == ""
    assert job.target_model_id  # the attributes came along with the final status


def test_wait_raises_timeout_error_at_the_timeout(client, pending_job):
    job = client.get_job(pending_job)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        job.wait(timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5, elapsed
    assert str(caught.value) == f"Waiting for link job ({job.job_id}) completion timed out after 0.5 seconds."
    assert job.get_status() == "CREATED"  # the job is untouched


def test_wait_on_a_failed_job_returns_failed(client, served, hub_emulator, broken):
    job = _submit(client, broken)
    finish_job(hub_emulator, served, job.job_id, api.JOB_STATE_FAILED)
    status = job.wait()
    assert status == "FAILED" and status.failure and status.finished and status.message


# ---------------------------------------------------------------------------- get_jobs, track


def test_get_jobs_filters_by_state_and_name_with_limit_and_offset(client, served, hub_emulator, models):
    tag = f"listing-{os.getpid()}-{time.monotonic_ns()}"
    first = _submit(client, models, name=f"{tag} one")
    second = _submit(client, models, name=f"{tag} two")
    third = _submit(client, models, name=f"{tag} THREE")
    finish_job(hub_emulator, served, second.job_id)

    everything = client.get_jobs(name=tag.upper())
    assert [job.job_id for job in everything] == [third.job_id, second.job_id, first.job_id]
    assert all(isinstance(job, LinkJob) for job in everything)
    assert [j.job_id for j in client.get_jobs(states="SUCCESS", name=tag)] == [second.job_id]
    assert [j.job_id for j in client.get_jobs(states=[JobStatus.State.CREATED], name=tag)] == [
        third.job_id,
        first.job_id,
    ]
    assert [j.job_id for j in client.get_jobs(states=hub.JobStatus.State.SUCCESS, name=tag)] == [second.job_id]
    assert [j.job_id for j in client.get_jobs(name=tag, limit=1, offset=1)] == [second.job_id]
    assert client.get_jobs(name=tag, limit=0) == []
    page = client.list_jobs(name_contains=tag, limit=2)
    assert page.total == 3 and len(page.jobs) == 2


def test_track_job_adopts_a_job_submitted_by_the_official_client(client, served, hub_emulator, models, official):
    theirs = official.submit_link_job([str(p) for p in models], hub.Device(DEVICE), name="from qai_hub")
    assert not client.get_jobs(name="from qai_hub")  # the daemon does not know it yet
    job = client.track_job(theirs.job_id)
    assert (job.job_id, job.name, job.get_status()) == (theirs.job_id, "from qai_hub", "CREATED")
    assert [j.job_id for j in client.get_jobs(name="from qai_hub")] == [theirs.job_id]
    call = Call(job.wait)
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)  # the daemon polls it: refresh sees each change
    assert call.value() == "SUCCESS"
    assert theirs.get_status().code == "SUCCESS"

    assert client.untrack_job(job.job_id) is True
    assert client.untrack_job(job.job_id) is False
    assert client.get_jobs(name="from qai_hub") == []


def test_track_of_an_unknown_job_is_not_found(client):
    with pytest.raises(NotFoundError):
        client.track_job("jnosuchjob")


# ---------------------------------------------------------------------------- names and sharing


def test_set_name_is_visible_to_a_second_client_and_the_hub(served, models, official):
    with Client(served.socket) as first, Client(served.socket) as second:
        job = _submit(first, models, name="before")
        theirs = second.get_job(job.job_id)
        assert job.set_name("after the rename") is None
        assert job.name == "after the rename"
        assert second.get_job(job.job_id).name == "after the rename"
        theirs.get_status()
        assert theirs.name == "after the rename"
    assert official.get_job(job.job_id).name == "after the rename"


def test_sharing_round_trip(client, hub_emulator, models):
    other = hub.Client(config=_config(hub_emulator, OTHER_TOKEN))
    email = hub.public_rest_api.get_auth_user(_config(hub_emulator, OTHER_TOKEN)).email  # the Hub now knows them
    job = _submit(client, models)
    assert job.get_sharing() == []

    assert job.modify_sharing(add_emails=[email]) is None
    assert job.get_sharing() == [email]
    assert other.get_job(job.job_id).name == job.name  # they can see it now
    job.modify_sharing(delete_emails=[email])
    assert job.get_sharing() == []
    job.modify_sharing([email], [])
    assert job.disable_sharing() is None
    assert job.get_sharing() == []

    with pytest.raises(UserError, match=r"Email not found: nobody@example\.com"):
        job.modify_sharing(add_emails=["nobody@example.com"])


@pytest.mark.parametrize(
    ("add", "delete", "message"),
    [
        ([], [], "Either add_emails or delete_emails must be specified and non-empty"),
        (None, None, "Either add_emails or delete_emails must be specified and non-empty"),
        ("a@example.com", [], "add_emails and delete_emails must both be lists"),
        ([], ("a@example.com",), "add_emails and delete_emails must both be lists"),
        (["not an email"], [], "'not an email' is not an email address."),
    ],
    ids=["empty", "none", "string", "tuple", "shape"],
)
def test_modify_sharing_checks_its_arguments_before_any_call(client, hub_emulator, pending_job, add, delete, message):
    job = client.get_job(pending_job)
    hub_emulator.reset_counters()
    with pytest.raises(UserError) as caught:
        job.modify_sharing(add_emails=add, delete_emails=delete)
    assert str(caught.value) == message
    assert hub_writes(hub_emulator) == []


# ---------------------------------------------------------------------------- artifacts


def test_get_available_artifacts_blocks_until_finished(client, served, hub_emulator, models):
    job = _submit(client, models)
    call = Call(job.get_available_artifacts)
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    kinds = call.value()
    assert kinds == [ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG]
    assert kinds[0] is JobArtifactType.DEVICE_LOG and kinds[1].value == hub.JobArtifactType.HUB_LOG.value


def test_download_artifacts_for_type(client, served, hub_emulator, models, tmp_path):
    job = _submit(client, models)
    out = tmp_path / "new" / "dir"
    call = Call(lambda: job.download_artifacts_for_type(str(out), hub.JobArtifactType.HUB_LOG))
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    (path,) = call.value()
    assert path == str(out / f"{job.job_id}_hub.log")  # created the directory
    fresh = Path(path).read_bytes()
    assert fresh

    Path(path).write_bytes(b"stale content that must go")
    assert job.download_artifacts_for_type(out, ArtifactType.HUB_LOG) == [path]
    assert Path(path).read_bytes() == fresh  # overwritten

    assert job.download_artifacts_for_type(out, JobArtifactType.PROFILE_TRACE) == []
    assert job.download_artifacts_for_type(out, "qhas_summary") == []
    assert sorted(os.listdir(out)) == [f"{job.job_id}_hub.log"]


def test_download_job_logs_device_then_hub(client, served, hub_emulator, models, tmp_path):
    job = _submit(client, models)
    call = Call(lambda: job.download_job_logs(str(tmp_path / "logs")))
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    paths = call.value()
    assert paths == [
        str(tmp_path / "logs" / f"{job.job_id}_device.log"),
        str(tmp_path / "logs" / f"{job.job_id}_hub.log"),
    ]
    assert all(Path(p).stat().st_size > 0 for p in paths)


def test_download_results(client, served, hub_emulator, models, tmp_path, monkeypatch):
    job = _submit(client, models)
    monkeypatch.chdir(tmp_path)
    call = Call(lambda: job.download_results("results"))
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    result = call.value()
    assert isinstance(result, LinkJobResult)
    assert result.status == "SUCCESS" and result.url == job.url
    assert result.artifacts_dir == str(tmp_path / "results")
    assert sorted(os.listdir(tmp_path / "results")) == sorted(
        [f"{job.job_id}_device.log", f"{job.job_id}_hub.log", f"job_{job.job_id}_optimized_bin.bin"]
    )


# ---------------------------------------------------------------------------- the target model


def test_get_target_model_blocks_then_describes_it(client, served, hub_emulator, models):
    job = _submit(client, models)
    call = Call(job.get_target_model)
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    model = call.value()
    assert isinstance(model, Model)
    assert model.model_id == client.get_job(job.job_id).target_model_id
    assert model.model_type == SourceModelType.QNN_CONTEXT_BINARY
    assert isinstance(model.date, datetime)
    assert model.url.endswith(f"/models/{model.model_id}/")


def test_download_target_model_follows_the_official_naming_rules(
    client, served, hub_emulator, models, tmp_path, monkeypatch
):
    job = _submit(client, models)
    call = Call(job.download_target_model)  # to memory: blocks like every other download
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id)
    data = call.value()
    assert isinstance(data, bytes) and data
    filename = f"job_{job.job_id}_optimized_bin.bin"

    # An existing directory: the Hub's filename, then a uniquified one when it is taken.
    into = tmp_path / "into"
    into.mkdir()
    first = job.download_target_model(str(into))
    assert first == str(into / filename)
    second = job.download_target_model(str(into))
    assert Path(second).parent == into and UNIQUIFIED.fullmatch(Path(second).name), second
    assert Path(first).read_bytes() == Path(second).read_bytes() == data

    # A file path: the suffix chain is appended when missing, kept when present.
    assert job.download_target_model(str(tmp_path / "plain")) == str(tmp_path / "plain.bin")
    existing = tmp_path / "kept.bin"
    existing.write_bytes(b"old")
    assert job.download_target_model(existing) == str(existing)
    assert existing.read_bytes() == data  # overwritten

    # Relative in, relative out (like qai_hub).
    monkeypatch.chdir(tmp_path)
    assert job.download_target_model("rel") == "rel.bin"
    relative = job.download_target_model("into")
    assert (
        isinstance(relative, str)
        and relative.startswith("into" + os.sep)
        and UNIQUIFIED.fullmatch(os.path.basename(relative))
    )

    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=re.escape(f"Download directory '{missing}' does not exist.")):
        job.download_target_model(str(missing / "x.bin"))


def test_a_failed_job_has_no_target_model(client, served, hub_emulator, broken, tmp_path):
    job = _submit(client, broken)
    call = Call(job.download_target_model)
    assert call.still_blocked()
    finish_job(hub_emulator, served, job.job_id, api.JOB_STATE_FAILED)
    assert call.value() is None
    assert job.get_target_model() is None
    assert job.download_target_model(str(tmp_path / "x.bin")) is None
    assert not (tmp_path / "x.bin").exists()
    result = job.download_results(tmp_path / "results")
    assert result.status == "FAILED" and result.status.message
    assert sorted(os.listdir(tmp_path / "results")) == [f"{job.job_id}_device.log", f"{job.job_id}_hub.log"]


def test_blocking_calls_take_a_timeout(client, pending_job, tmp_path):
    job = client.get_job(pending_job)
    with pytest.raises(TimeoutError, match=job.job_id):
        job.download_target_model(timeout=0.3)
    with pytest.raises(TimeoutError, match=job.job_id):
        job.download_job_logs(tmp_path, timeout=0.3)
    with pytest.raises(TimeoutError, match=job.job_id):
        job.get_available_artifacts(timeout=0.3)
    with pytest.raises(TimeoutError, match=job.job_id):
        job.get_target_model(timeout=0.3)
    assert job.get_status() == "CREATED"


# ---------------------------------------------------------------------------- asyncio


def test_async_client_has_the_same_api(served, hub_emulator, models, pending_job, tmp_path):
    pending = pending_job

    async def scenario() -> None:
        async with AsyncClient(served.socket) as client:
            job = await client.submit_link_job(list(models), DEVICE, name="async job")
            assert (await job.get_status()) == "CREATED"
            waiting = asyncio.create_task(job.wait())
            target = asyncio.create_task(job.download_target_model())
            await asyncio.sleep(0.3)
            assert not waiting.done() and not target.done()
            await asyncio.to_thread(finish_job, hub_emulator, served, job.job_id)
            assert (await waiting) == "SUCCESS"
            data = await target
            assert isinstance(data, bytes) and data
            assert await job.get_available_artifacts() == [ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG]
            assert (await job.get_target_model()).model_type == 11
            assert await job.download_target_model(str(tmp_path / "m")) == str(tmp_path / "m.bin")
            assert len(await job.download_job_logs(tmp_path / "logs")) == 2
            assert await job.download_artifacts_for_type(tmp_path, ArtifactType.PROFILE_TRACE) == []
            await job.set_name("async renamed")
            listed = await client.get_jobs(name="async renamed")
            assert [j.job_id for j in listed] == [job.job_id]
            assert await job.get_sharing() == []
            with pytest.raises(UserError):
                await job.modify_sharing()
            result = await job.download_results(tmp_path / "results")
            assert result.status == "SUCCESS"
            other = await client.get_job(pending)
            with pytest.raises(TimeoutError):
                await other.wait(timeout=0.3)

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- daemon restart


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_wait_resumes_after_a_daemon_restart(served, hub_emulator, models, stop):
    """Stop the daemon during a wait (cleanly, or kill it), start a new one on the same socket
    and state dir: the original ``wait()`` reconnects and returns SUCCESS. (Last in the module:
    it swaps the module's daemon for the restarted one.)"""
    client = Client(served.socket)
    job = _submit(client, models)
    opened = threading.Event()
    apply = job._apply

    def noting_apply(message: api.Job) -> None:  # tells the test the stream is open
        apply(message)
        opened.set()

    job._apply = noting_apply  # type: ignore[method-assign]
    call = Call(job.wait)
    assert opened.wait(30)
    served.proc.send_signal(stop)
    assert served.proc.wait(timeout=30) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
    assert call.still_blocked()  # the stream ended (shutting down, or broken); wait() holds on

    base = served.state_dir.parent
    restarted = start_hub_daemon(base, hub_emulator)
    served.proc = restarted.proc  # the fixture stops this one
    try:
        assert restarted.socket == served.socket
        finish_job(hub_emulator, restarted, job.job_id)
        assert call.value() == "SUCCESS"
    finally:
        client.close()
