"""Issue 11, item 1, as it was produced: a real daemon, the emulator moving a job CREATED ->
LINKING_MODELS while another process holds the daemon's SQLite write lock longer than the
daemon's 5 s busy timeout. RefreshJobs commits nothing and every read says stale; once the lock
is gone RefreshJobs fetches and commits the change; one log line each way, no traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from e2e_support import Emulator, make_dlc, start_daemon, start_emulator, stopping, token_env

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

DEVICE = "Snapdragon 8 Elite QRD"


@pytest.fixture
def emulator(base: Path) -> Iterator[Emulator]:
    """`aihubd emulator --manual`: jobs move only when the test says so."""
    with stopping(start_emulator(base, "--manual")) as emu:
        yield emu


@pytest.fixture
def dlcs(base: Path) -> tuple[Path, Path]:
    return make_dlc(base / "a.dlc", b"A-graph" * 300), make_dlc(base / "b.dlc", b"B-graph" * 300)


@pytest.mark.timeout(180)
def test_a_locked_store_loses_no_state_change_in_a_real_daemon(
    emulator: Emulator, base: Path, dlcs: tuple[Path, Path]
) -> None:
    daemon = start_daemon(base, ["--hub-url", emulator.base_url], env=token_env(base))
    try:
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            jobs = api_grpc.LinkJobServiceStub(channel)
            info = api_grpc.DaemonServiceStub(channel)
            request = api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(p)) for p in dlcs], device=DEVICE)
            job_id = jobs.SubmitLinkJob(request, timeout=30).job_id
            jobs.RefreshJobs(api.RefreshJobsRequest(), timeout=30)  # the poller has listed it CREATED
            assert not jobs.GetJob(api.GetJobRequest(job_id=job_id), timeout=5).stale
            emulator.advance(job_id)  # CREATED -> LINKING_MODELS on the Hub

            other = sqlite3.connect(daemon.state_dir / "aihubd.db", timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # held past the daemon's busy timeout
                refreshed = jobs.RefreshJobs(api.RefreshJobsRequest(), timeout=60)
                assert refreshed.changed == 0
                got = jobs.GetJob(api.GetJobRequest(job_id=job_id), timeout=5)
                assert got.state == api.JOB_STATE_CREATED and got.stale
                (listed,) = jobs.ListJobs(api.ListJobsRequest(), timeout=5).jobs
                assert listed.job_id == job_id and listed.stale
                status = info.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=5)
                assert "polling paused" in status.hub_error and "database" in status.hub_error
                with pytest.raises(grpc.RpcError) as refused:  # its snapshot needs the lock: not INTERNAL
                    next(iter(jobs.WatchJobs(api.WatchJobsRequest(job_ids=[job_id]), timeout=30)))
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "locked by another process" in (refused.value.details() or "")
            finally:
                other.rollback()
                other.close()

            jobs.RefreshJobs(api.RefreshJobsRequest(), timeout=30)  # (a waiter's nudged cycle may commit first)
            got = jobs.GetJob(api.GetJobRequest(job_id=job_id), timeout=5)
            assert got.state == api.JOB_STATE_LINKING_MODELS and not got.stale
            assert info.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=5).hub_error == ""
    finally:
        assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert log.count("polling paused") == 1 and log.count("polling resumed") == 1, log
    assert "Traceback" not in log, log
