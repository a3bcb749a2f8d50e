"""AsyncClient and AsyncLinkJob against the fake daemon: the same names, as coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from client_fakes import CHUNKS, FAILURE_REASON, FAST_BACKOFF, FAST_RECONNECT, TARGET_FILENAME

from aihubd_client import (
    ArtifactType,
    AsyncClient,
    AsyncLinkJob,
    DaemonUnavailableError,
    HubUnavailableError,
    NotFoundError,
    UserError,
)


@pytest.fixture
async def aclient(socket_path: Path) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(socket_path, reconnect=FAST_RECONNECT, submit_backoff=FAST_BACKOFF) as client:
        yield client


async def test_submit_wait_and_download(aclient, fake, workdir):
    job = await aclient.submit_link_job(["a.dlc", "b.dlc"], "Dev", name="n")
    assert isinstance(job, AsyncLinkJob) and (job.job_id, job.name) == ("jnew", "n")
    assert [m.path for m in fake.requests_of("SubmitLinkJob")[0].models] == [
        str(workdir / "a.dlc"),
        str(workdir / "b.dlc"),
    ]
    statuses = [status.code async for status in job.iter_status()]
    assert statuses == ["CREATED", "LINKING_MODELS", "SUCCESS"]
    assert (await job.wait()) == "SUCCESS"
    assert await job.download_target_model() == b"".join(CHUNKS)
    assert await job.download_target_model("out") == "out.bin"
    assert [c.filename async for c in job.iter_target_model()][:1] == [TARGET_FILENAME]
    assert len(await job.download_job_logs("logs")) == 2
    assert await job.get_available_artifacts() == [ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG]
    assert await job.download_artifacts_for_type("a", ArtifactType.PROFILE_TRACE) == []
    assert (await job.get_target_model()).filename == TARGET_FILENAME
    result = await job.download_results("results")
    assert result.status == "SUCCESS" and result.artifacts_dir == str(workdir / "results")


async def test_validation_happens_before_any_call(aclient, fake):
    with pytest.raises(UserError, match="QNN DLC"):
        await aclient.submit_link_job("a.onnx", "Dev")
    job = await aclient.get_job("jdone")
    with pytest.raises(UserError, match="non-empty"):
        await job.modify_sharing()
    assert fake.requests_of("SubmitLinkJob") == [] and fake.requests_of("ModifySharing") == []


async def test_failed_job(aclient):
    job = await aclient.get_job("jfailed")
    status = await job.wait(timeout=30)
    assert status == "FAILED" and status.message == FAILURE_REASON
    assert await job.download_target_model() is None
    assert await job.get_target_model() is None


async def test_jobs_names_and_sharing(aclient, fake):
    assert [j.job_id for j in await aclient.get_jobs(states="SUCCESS")] == ["jdone"]
    assert await aclient.get_jobs(limit=0) == []
    page = await aclient.list_jobs(limit=2)
    assert len(page.jobs) == 2 and page.total == 6
    job = await aclient.track_job("jelsewhere")
    await job.set_name("renamed")
    assert job.name == "renamed" and (await aclient.get_job("jelsewhere")).name == "renamed"
    await job.modify_sharing(add_emails=["a@x.com"])
    assert await job.get_sharing() == ["a@x.com"]
    await job.disable_sharing()
    assert await job.get_sharing() == []
    assert await aclient.untrack_job("jelsewhere") is True
    assert (await aclient.refresh_jobs()).polled == 6
    assert (await aclient.daemon_info()).account_email == "dev@example.com"


async def test_errors_map_through_the_same_table(aclient, fake):
    with pytest.raises(NotFoundError):
        await aclient.get_job("nope")
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "cannot reach the Hub")
    fake.fail_times = 2
    job = await aclient.submit_link_job("a.dlc", "Dev", request_id="k")
    assert job.job_id == "jnew"
    assert [r.request_id for r in fake.requests_of("SubmitLinkJob")] == ["k", "k", "k"]
    fake.fail_times = None
    with pytest.raises(HubUnavailableError):
        await aclient.daemon_info()


async def test_timeout_and_cancellation_end_the_stream(aclient, fake):
    job = await aclient.get_job("jhang")
    with pytest.raises(TimeoutError, match=r"Waiting for link job \(jhang\) completion timed out after 0.3 seconds."):
        await job.wait(timeout=0.3)
    assert await asyncio.to_thread(fake.wait_ended.wait, 5)
    fake.wait_ended.clear()
    waiting = asyncio.create_task(job.wait())
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.to_thread(fake.wait_ended.wait, 5)  # the daemon saw the stream end
    assert (await job.get_status()) == "CREATED"  # the job is untouched


async def test_wait_resumes_after_a_restart_and_gives_up_when_gone(aclient, fake):
    back = await aclient.get_job("jback")
    assert [s.code async for s in back.iter_status()] == ["LINKING_MODELS", "SUCCESS"]
    stop = await aclient.get_job("jstop")
    with pytest.raises(DaemonUnavailableError, match="wait again once the daemon is back"):
        await stop.wait()


async def test_missing_daemon(socket_dir):
    async with AsyncClient(socket_dir / "none.sock") as client:
        with pytest.raises(DaemonUnavailableError, match="aihubd serve"):
            await client.get_job("j1")
