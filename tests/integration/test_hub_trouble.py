"""A Hub that misbehaves 30 % of the time: every job still converges to the Hub's truth."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import qai_hub as hub
from e2e_support import TEST_TOKEN, Emulator, start_daemon, start_emulator, stopping, stub, token_env

from aihubd_api.v1 import aihubd_pb2 as api

DEVICE = "Snapdragon 8 Elite QRD"
JOBS = 100
# Every kind the emulator has. The two that carry Retry-After are rarest: each one rightly pauses
# *all* Hub traffic for a second, which would otherwise dominate the run time.
FAULTS = {
    "rate": 0.3,
    "seed": 11,
    "slow_seconds": 0.2,
    "retry_after": 1,
    "kinds": ["500", "502", "503"] * 8
    + ["reset-mid-body", "drop-after-create", "429-no-retry-after", "slow"] * 2
    + ["503-retry-after", "429"],
}
DEADLINE = 240.0


@pytest.fixture
def live_emulator(tmp_path: Path):
    with stopping(start_emulator(tmp_path, "--link-seconds", "1")) as emu:
        yield emu


def _retrying(call, request, errors: list[grpc.StatusCode], timeout: float = 120):
    """What a client does with a retryable error: the same request again (same request id)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            return call(request, timeout=timeout)
        except grpc.RpcError as exc:
            errors.append(exc.code())
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.timeout(600)
def test_jobs_converge_through_a_faulty_hub(live_emulator: Emulator, tmp_path: Path) -> None:
    daemon = start_daemon(
        tmp_path,
        [
            "--hub-url",
            live_emulator.base_url,
            "--hub-rate",
            "2000",
            "--poll-interval",
            "0.3",
            "--max-poll-interval",
            "1",
            "--no-prefetch",
            "--hub-retry-attempts",
            "2",  # convergence, not patience, is the point here: the production budget takes minutes
        ],
        env=token_env(tmp_path),
        extra=[],
    )
    inputs = []
    for i in range(JOBS):
        pair = [tmp_path / f"in{i}_a.dlc", tmp_path / f"in{i}_b.dlc"]
        pair[0].write_bytes(b"shared" * 500 + os.urandom(64))
        pair[1].write_bytes(b"" if i % 10 == 0 else b"other" * 300 + os.urandom(64))  # every 10th fails
        inputs.append(pair)
    errors: list[grpc.StatusCode] = []
    live_emulator.set_faults(FAULTS)
    try:
        with stub(daemon.socket) as s:

            def submit(pair: list[Path]) -> str:
                request = api.SubmitLinkJobRequest(
                    models=[api.ModelInput(path=str(p)) for p in pair], device=DEVICE, request_id=str(uuid.uuid4())
                )
                return _retrying(s.SubmitLinkJob, request, errors).job_id

            with ThreadPoolExecutor(8) as pool:
                job_ids = list(pool.map(submit, inputs))

            def finish(job_id: str) -> api.Job:
                last = None
                for message in s.WaitJob(api.WaitJobRequest(job_id=job_id), timeout=DEADLINE):
                    last = message
                return last

            with ThreadPoolExecutor(16) as pool:
                finals = dict(zip(job_ids, pool.map(finish, job_ids), strict=True))

            sample = [j for j in job_ids if finals[j].state == api.JOB_STATE_DONE][:10]
            ours = {}
            for job_id in sample:
                out = tmp_path / "ours" / job_id
                out.mkdir(parents=True)
                path = _retrying(
                    s.DownloadTargetModel,
                    api.DownloadTargetModelRequest(job_id=job_id, destination=str(out)),
                    errors,
                    timeout=120,
                ).paths[0]
                ours[job_id] = hashlib.sha256(Path(path).read_bytes()).hexdigest()

            still_running = [j for j in job_ids if finals[j].state not in (api.JOB_STATE_DONE, api.JOB_STATE_FAILED)]
            assert still_running == []
        faults_seen = live_emulator.fault_counts()
    finally:
        live_emulator.set_faults(None)

    assert len(set(job_ids)) == JOBS
    assert set(errors) <= {grpc.StatusCode.UNAVAILABLE}
    assert sum(v for k, v in faults_seen.items() if k not in ("down", "revoked-token")) > 100

    official = hub.Client(
        config=hub.ClientConfig(
            api_token=TEST_TOKEN, api_url=live_emulator.base_url, web_url=live_emulator.base_url + "/", verbose=False
        )
    )
    truth = {j: official.get_job(j).get_status() for j in job_ids}
    for job_id, final in finals.items():
        assert final.state == (api.JOB_STATE_DONE if truth[job_id].success else api.JOB_STATE_FAILED), job_id
    assert sum(1 for t in truth.values() if t.failure) == JOBS // 10
    # One Hub job per submission: retries with the same request id never created a second one.
    listed = official.get_job_summaries(limit=1000, type=hub.JobType.LINK)
    assert len(listed) == JOBS
    for job_id, digest in ours.items():
        theirs = official.get_job(job_id).download_target_model(str(tmp_path / f"official_{job_id}.bin"))
        assert hashlib.sha256(Path(theirs).read_bytes()).hexdigest() == digest
    assert daemon.stop() == 0


def test_cached_reads_are_marked_stale_while_the_hub_is_down(
    emulator: Emulator, tmp_path: Path, dlcs: tuple[Path, Path]
) -> None:
    daemon = start_daemon(tmp_path, ["--hub-url", emulator.base_url], env=token_env(tmp_path))
    try:
        with stub(daemon.socket) as s:
            job = s.SubmitLinkJob(
                api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(p)) for p in dlcs], device=DEVICE), timeout=30
            )
            s.RefreshJobs(api.RefreshJobsRequest(), timeout=30)
            fresh = s.GetJob(api.GetJobRequest(job_id=job.job_id), timeout=30)
            assert not fresh.stale and fresh.last_refresh_time.seconds > 0
            emulator.set_faults({"down": True})
            s.RefreshJobs(api.RefreshJobsRequest(), timeout=60)  # the cycle cannot reach the Hub
            cached = s.GetJob(api.GetJobRequest(job_id=job.job_id), timeout=5)
            assert cached.stale and cached.state == api.JOB_STATE_CREATED
            assert cached.last_refresh_time == fresh.last_refresh_time
            emulator.set_faults(None)
            s.RefreshJobs(api.RefreshJobsRequest(), timeout=30)
            assert not s.GetJob(api.GetJobRequest(job_id=job.job_id), timeout=5).stale
    finally:
        assert daemon.stop() == 0
