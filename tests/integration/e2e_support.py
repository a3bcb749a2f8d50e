"""Integration-test support: the emulator and daemon subprocesses, raw stubs, a job follower."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

TEST_TOKEN = "test-token-integration"
START_TIMEOUT = 60


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIHUBD_", "QAIHUB_"))}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra})
    return env


def first_line(proc: subprocess.Popen[str], what: str, log: Path) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # blocks until the child prints it (or exits)
    if not line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{what} did not start:\n{log.read_text()}")
    return line


def stop_process(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


@dataclass
class Emulator:
    base_url: str
    proc: subprocess.Popen[str]

    def _admin(self, method: str, path: str) -> dict:
        req = urllib.request.Request(f"{self.base_url}/_emulator/{path}", method=method,
                                     data=b"" if method in ("POST", "DELETE") else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else {}

    def counters(self) -> dict[str, int]:
        return self._admin("GET", "counters")

    def reset_counters(self) -> None:
        self._admin("POST", "counters/reset")

    def advance(self, job_id: str) -> None:
        self._admin("POST", f"jobs/{job_id}/advance")

    def set_faults(self, config: dict | None) -> dict:
        """PUT the emulator's fault config (see aihubd.emulator.faults.FaultConfig); None clears it."""
        if config is None:
            return self._admin("DELETE", "faults")
        req = urllib.request.Request(f"{self.base_url}/_emulator/faults", method="PUT",
                                     data=json.dumps(config).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def fault_counts(self) -> dict[str, int]:
        return self._admin("GET", "faults")["counts"]


@dataclass
class Daemon:
    socket: Path
    state_dir: Path
    proc: subprocess.Popen[str]
    log: Path

    def stop(self) -> int:
        return stop_process(self.proc)


def start_emulator(tmp_path: Path, *args: str) -> Emulator:
    """`aihubd emulator` as a subprocess; the base URL is its first stdout line."""
    log = tmp_path / "emulator.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aihubd", "emulator", "--port", "0", "--state-dir", str(tmp_path / "emu"), *args],
            stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env(),
        )
    return Emulator(first_line(proc, "the emulator", log), proc)


def start_daemon(tmp_path: Path, hub_args: list[str], env: dict[str, str] | None = None,
                 extra: list[str] | None = None) -> Daemon:
    sock_dir = tmp_path / "run"
    socket = sock_dir / "aihubd.sock"
    state = tmp_path / "state"
    log = tmp_path / "daemon.log"
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aihubd", "serve", "--socket", str(socket), "--state-dir", str(state),
             *hub_args, *(extra if extra is not None else ["--poll-interval", "3600"])],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env or clean_env(),
        )
    line = first_line(proc, "the daemon", log)
    assert line == f"aihubd ready on unix:{socket}", line
    return Daemon(socket, state, proc, log)


def make_dlc(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@contextmanager
def stub(socket: Path) -> Iterator[api_grpc.LinkJobServiceStub]:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        yield api_grpc.LinkJobServiceStub(channel)


def refresh(socket: Path) -> api.RefreshJobsResponse:
    """One poll cycle in the daemon, returning when it is done."""
    with stub(socket) as s:
        return s.RefreshJobs(api.RefreshJobsRequest(), timeout=30)


class Follower(threading.Thread):
    """Collects every status a job's wait stream delivers; ``first`` is set after the first one."""

    def __init__(self, job: object) -> None:
        super().__init__(daemon=True)
        self.job = job
        self.statuses: list[str] = []
        self.first = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for status in self.job.iter_status():  # type: ignore[attr-defined]
                self.statuses.append(str(status))
                self.first.set()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.first.set()
