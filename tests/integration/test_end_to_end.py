"""A real daemon on a temp socket, the emulator as its Hub: submit, wait, download."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import grpc
import pytest
import qai_hub as hub
from e2e_support import TEST_TOKEN, Daemon, Emulator, Follower, finish_job, refresh, stub

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client import Client

DEVICE = "Snapdragon 8 Elite QRD"
JOB_GET = "GET /api/v1/jobs/{job_id}/"


def test_submit_wait_download_matches_official_client(
    emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    with Client(daemon.socket) as client:
        job = client.submit_link_job(list(dlcs), DEVICE, name="e2e link", options="--foo")
        assert job.job_id and job.name == "e2e link"
        assert job.get_status().code == "CREATED"
        follower = Follower(job)
        follower.start()
        assert follower.first.wait(30)
        finish_job(emulator, daemon, job.job_id)
        follower.join(30)
        assert follower.error is None
        assert follower.statuses == ["CREATED", "LINKING_MODELS", "SUCCESS"]
        status = job.wait()
        assert status.success and status.finished and status == "SUCCESS"

        (tmp_path / "ours").mkdir()
        ours = job.download_target_model(str(tmp_path / "ours"))
        logs = job.download_job_logs(str(tmp_path / "logs"))

    assert isinstance(ours, str) and Path(ours).parent == tmp_path / "ours"
    assert Path(ours).name == f"job_{job.job_id}_optimized_bin.bin"
    assert [Path(p).name for p in logs] == [f"{job.job_id}_device.log", f"{job.job_id}_hub.log"]
    assert all(Path(p).stat().st_size > 0 for p in logs)

    official = hub.Client(
        config=hub.ClientConfig(
            api_token=TEST_TOKEN, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
        )
    )
    (tmp_path / "official").mkdir()
    theirs = official.get_job(job.job_id).download_target_model(str(tmp_path / "official"))
    assert hashlib.sha256(Path(ours).read_bytes()).hexdigest() == hashlib.sha256(Path(theirs).read_bytes()).hexdigest()
    assert Path(ours).read_bytes() == Path(theirs).read_bytes()


@pytest.mark.parametrize("waiters", [1, 3])
def test_waiters_never_add_hub_polls(emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path], waiters: int) -> None:
    """N clients waiting on one job cost the Hub exactly what one waiter costs: one GET per cycle."""
    with Client(daemon.socket) as submitter:
        job_id = submitter.submit_link_job(list(dlcs), DEVICE).job_id
    refresh(daemon.socket)  # settles the poll the submission asked for; none is pending after this
    emulator.reset_counters()

    clients = [Client(daemon.socket) for _ in range(waiters)]
    followers = [Follower(c.get_job(job_id)) for c in clients]
    for f in followers:
        f.start()
    for f in followers:
        assert f.first.wait(30)
    finish_job(emulator, daemon, job_id)
    for f in followers:
        f.join(30)
        assert f.error is None
        assert f.statuses == ["CREATED", "LINKING_MODELS", "SUCCESS"]
    for c in clients:
        c.close()

    # Two poll cycles (one per state change), whatever the number of waiters.
    assert emulator.counters().get(JOB_GET, 0) == 2


def test_wait_timeout_fires_at_the_timeout(emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path]) -> None:
    with Client(daemon.socket) as client:
        job = client.submit_link_job(list(dlcs), DEVICE)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=job.job_id):
            job.wait(timeout=0.5)
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5, elapsed


def test_failed_link_has_no_target_model(emulator: Emulator, daemon: Daemon, tmp_path: Path) -> None:
    empty = tmp_path / "empty.dlc"
    empty.write_bytes(b"")
    other = tmp_path / "other.dlc"
    other.write_bytes(b"something")
    with Client(daemon.socket) as client:
        job = client.submit_link_job([str(empty), str(other)], DEVICE)
        finish_job(emulator, daemon, job.job_id, api.JOB_STATE_FAILED)
        status = job.wait()
        assert status == "FAILED" and status.failure and status.message
        assert job.download_target_model(str(tmp_path / "x.bin")) is None
        assert job.download_target_model() is None
        assert not (tmp_path / "x.bin").exists()


def test_download_to_memory_equals_file(
    emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    with Client(daemon.socket) as client:
        job = client.submit_link_job(list(dlcs), DEVICE)
        finish_job(emulator, daemon, job.job_id)
        data = job.download_target_model()
        path = job.download_target_model(str(tmp_path / "model"))
    assert isinstance(data, bytes) and len(data) > 0
    assert path == str(tmp_path / "model.bin")
    assert Path(path).read_bytes() == data


@pytest.mark.parametrize(
    ("make_request", "code", "words"),
    [
        (
            lambda d: api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(d / "missing.dlc"))], device=DEVICE),
            grpc.StatusCode.NOT_FOUND,
            "does not exist",
        ),
        (
            lambda d: api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(d / "model.onnx"))], device=DEVICE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "QNN DLC",
        ),
        (
            lambda d: api.SubmitLinkJobRequest(models=[api.ModelInput(path="relative.dlc")], device=DEVICE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "absolute",
        ),
        (
            lambda d: api.SubmitLinkJobRequest(models=[], device=DEVICE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "at least one",
        ),
        (
            lambda d: api.SubmitLinkJobRequest(
                models=[api.ModelInput(path=str(d / "graph_a.dlc"))], device="No Such Phone"
            ),
            grpc.StatusCode.NOT_FOUND,
            "No Such Phone",
        ),
        (lambda d: api.GetJobRequest(job_id="jdoesnotexist"), grpc.StatusCode.NOT_FOUND, "jdoesnotexist"),
        (lambda d: api.GetJobRequest(job_id="../etc"), grpc.StatusCode.INVALID_ARGUMENT, "not a job id"),
    ],
    ids=["missing-path", "not-dlc", "relative-path", "no-models", "unknown-device", "unknown-job", "bad-job-id"],
)
def test_bad_input_gets_a_clear_status(
    emulator: Emulator,
    daemon: Daemon,
    dlcs: tuple[Path, Path],
    tmp_path: Path,
    make_request,
    code: grpc.StatusCode,
    words: str,
) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    request = make_request(tmp_path)
    with stub(daemon.socket) as s:
        call = s.SubmitLinkJob if isinstance(request, api.SubmitLinkJobRequest) else s.GetJob
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=30)
        assert info.value.code() == code
        assert words in info.value.details()
        # ... and the daemon keeps serving.
        job = s.SubmitLinkJob(
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(p)) for p in dlcs], device=DEVICE), timeout=30
        )
        assert s.GetJob(api.GetJobRequest(job_id=job.job_id), timeout=30).state == api.JOB_STATE_CREATED


def test_serve_without_credentials_refuses_and_says_how_to_configure(tmp_path: Path) -> None:
    import sys

    from child_procs import run
    from e2e_support import clean_env

    result = run(
        [
            sys.executable,
            "-m",
            "aihubd",
            "serve",
            "--socket",
            str(tmp_path / "run" / "s.sock"),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(QAIHUB_CLIENT_INI=str(tmp_path / "none.ini")),
        check=False,
    )
    assert result.returncode == 2
    assert "qai-hub configure" in result.stderr and "--hub emulator" in result.stderr
    assert not (tmp_path / "run" / "s.sock").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_embedded_emulator_mode_runs_a_job_and_stops_cleanly(
    tmp_path: Path, dlcs: tuple[Path, Path], sig: signal.Signals
) -> None:
    from e2e_support import start_daemon

    daemon = start_daemon(
        tmp_path,
        ["--hub", "emulator", "--emulator-link-seconds", "0.2"],
        extra=["--poll-interval", "0.1", "--wait-poll-interval", "0.2"],
    )
    with Client(daemon.socket) as client:
        info = client.daemon_info()
        assert info.hub_kind == "emulator"
        job = client.submit_link_job(list(dlcs), DEVICE)
        assert job.wait(timeout=60).success
    daemon.proc.send_signal(sig)
    assert daemon.proc.wait(timeout=30) == 0
    assert not daemon.socket.exists()
