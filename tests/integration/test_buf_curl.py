"""`buf curl --protocol grpc --unix-socket` drives a real daemon through server reflection alone
(run from an empty directory, no .proto files, no --schema): the README's commands."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import Daemon, stub

from aihubd_api.v1 import aihubd_pb2 as api

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "clients" / "node" / "node_modules" / ".bin" / "buf"
DEVICE = "Snapdragon 8 Elite QRD"
Curl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def curl(daemon: Daemon, tmp_path: Path) -> Curl:
    """Run ``buf curl`` against the daemon's socket from an empty working directory."""
    assert BUF.exists(), f"{BUF} missing: run `make node-install` (Node >= 20)"
    empty = tmp_path / "empty"
    empty.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(BUF),
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--unix-socket",
            str(daemon.socket),
        ]
        return subprocess.run([*command, *args], capture_output=True, text=True, check=False, cwd=empty, timeout=60)

    return run


def test_list_services(curl: Curl) -> None:
    result = curl("--list-services", "http://localhost")
    assert result.returncode == 0, result.stderr
    assert {"aihubd.v1.LinkJobService", "aihubd.v1.DaemonService", "grpc.health.v1.Health"} <= set(
        result.stdout.split()
    )


def test_get_daemon_info(curl: Curl) -> None:
    result = curl("http://localhost/aihubd.v1.DaemonService/GetDaemonInfo")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["version"]
    assert info["hubKind"] == "hub"
    assert info["hubReachable"] is True


def test_get_job(curl: Curl, daemon: Daemon, dlcs: tuple[Path, Path]) -> None:
    with stub(daemon.socket) as s:
        job = s.SubmitLinkJob(
            api.SubmitLinkJobRequest(
                models=[api.ModelInput(path=str(p)) for p in dlcs], device=DEVICE, name="seen by buf curl"
            ),
            timeout=60,
        )
    result = curl("-d", json.dumps({"jobId": job.job_id}), "http://localhost/aihubd.v1.LinkJobService/GetJob")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["jobId"] == job.job_id
    assert seen["name"] == "seen by buf curl"
    assert seen["state"] == "JOB_STATE_CREATED"


def test_get_unknown_job_is_not_found(curl: Curl) -> None:
    result = curl("-d", '{"jobId": "jnosuchjob"}', "http://localhost/aihubd.v1.LinkJobService/GetJob")
    assert result.returncode != 0
    error = json.loads(result.stderr)
    assert error["code"] == "not_found"
    assert "jnosuchjob" in error["message"]


def test_health_check(curl: Curl) -> None:
    for service in ("", "aihubd.v1.LinkJobService"):
        result = curl("-d", json.dumps({"service": service}), "http://localhost/grpc.health.v1.Health/Check")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"status": "SERVING"}
