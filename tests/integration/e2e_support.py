"""Integration-test support: the emulator and daemon subprocesses, raw stubs, a job follower.

Children are started through ``child_procs`` (they die with the test process).
"""

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
from typing import Protocol, TypeVar

import grpc
from child_procs import popen

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

TEST_TOKEN = "test-token-integration"
_S3_MODES = ("credentials", "mixed")  # `aihubd emulator --transfer` modes that print an "s3:" line
START_TIMEOUT = 60
# Poll interval 1 h: the daemon sees a Hub change only on RefreshJobs (deterministic). The Hub
# rate limit is lifted (the default 10 requests/s would space out every test's calls).
# One attempt per Hub request: fault tests see the Hub's trouble at once, not after the production
# retry budget (7 attempts, ~70 s of backoff, as patient as the official client).
FAST_FAIL = ["--hub-retry-attempts", "1"]
# Polling only when a test asks (refresh) or a new waiter nudges; waiters do not shorten the gap;
# only the jobs a test submits or tracks (a module's tests share one emulator account).
HUB_DAEMON_FLAGS = [
    "--poll-interval",
    "3600",
    "--wait-poll-interval",
    "3600",
    "--hub-scope",
    "tracked",
    "--hub-rate",
    "1000",
    *FAST_FAIL,
]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIHUBD_", "QAIHUB_"))}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra})
    return env


def token_env(base: Path, token: str = TEST_TOKEN) -> dict[str, str]:
    """A daemon's environment: the Hub token from env, no qai-hub client.ini of the user."""
    return clean_env(AIHUBD_HUB_TOKEN=token, QAIHUB_CLIENT_INI=str(base / "none.ini"))


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
    # Its S3 endpoint (the second stdout line, in the transfer modes that hand out S3 credentials).
    s3_url: str | None = None

    def _admin(self, method: str, path: str) -> dict:
        req = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}", method=method, data=b"" if method in ("POST", "DELETE") else None
        )
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
        req = urllib.request.Request(
            f"{self.base_url}/_emulator/faults",
            method="PUT",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def fault_counts(self) -> dict[str, int]:
        return self._admin("GET", "faults")["counts"]

    def stop(self) -> int:
        return stop_process(self.proc)


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
        proc = popen(
            [sys.executable, "-m", "aihubd", "emulator", "--port", "0", "--state-dir", str(tmp_path / "emu"), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=clean_env(),
        )
    base_url = first_line(proc, "the emulator", log)
    mode = args[args.index("--transfer") + 1] if "--transfer" in args else "mixed"
    s3_url = first_line(proc, "the emulator's S3 endpoint", log).removeprefix("s3: ") if mode in _S3_MODES else None
    return Emulator(base_url, proc, s3_url)


def hub_env(base: Path, emulator: Emulator, token: str = TEST_TOKEN) -> dict[str, str]:
    """``token_env`` plus what botocore needs to reach ``emulator``'s S3 endpoint (and no AWS
    config of the user's)."""
    env = token_env(base, token)
    env.update(AWS_CONFIG_FILE=str(base / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(base / "no-aws-creds"))
    if emulator.s3_url is not None:
        env["AWS_ENDPOINT_URL_S3"] = emulator.s3_url
    return env


def start_daemon(
    tmp_path: Path, hub_args: list[str], env: dict[str, str] | None = None, extra: list[str] | None = None
) -> Daemon:
    sock_dir = tmp_path / "run"
    socket = sock_dir / "aihubd.sock"
    state = tmp_path / "state"
    log = tmp_path / "daemon.log"
    with log.open("a") as err:
        proc = popen(
            [
                sys.executable,
                "-m",
                "aihubd",
                "serve",
                "--socket",
                str(socket),
                "--state-dir",
                str(state),
                *hub_args,
                *(extra if extra is not None else ["--poll-interval", "3600", *FAST_FAIL]),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env or clean_env(),
        )
    line = first_line(proc, "the daemon", log)
    assert line == f"aihubd ready on unix:{socket}", line
    return Daemon(socket, state, proc, log)


def start_hub_daemon(base: Path, emulator: Emulator) -> Daemon:
    """A daemon in ``base`` whose Hub is ``emulator`` (the test token, ``HUB_DAEMON_FLAGS``)."""
    return start_daemon(base, ["--hub-url", emulator.base_url], env=hub_env(base, emulator), extra=HUB_DAEMON_FLAGS)


class _Stoppable(Protocol):
    def stop(self) -> int: ...


S = TypeVar("S", bound=_Stoppable)


@contextmanager
def stopping(child: S) -> Iterator[S]:
    """Yield ``child`` (an Emulator or a Daemon), stopping it afterwards."""
    try:
        yield child
    finally:
        child.stop()


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


def finish_job(emulator: Emulator, daemon: Daemon, job_id: str, final: int = api.JOB_STATE_DONE) -> None:
    """CREATED -> LINKING_MODELS -> DONE (or FAILED) on the emulator, each seen by the daemon before going on."""
    with stub(daemon.socket) as s:
        for expected in (api.JOB_STATE_LINKING_MODELS, final):
            emulator.advance(job_id)
            refresh(daemon.socket)  # returns after a full cycle that started after the advance
            assert s.GetJob(api.GetJobRequest(job_id=job_id), timeout=30).state == expected


def hub_writes(emulator: Emulator) -> list[str]:
    """Requests that change something on the Hub since the last counter reset (the daemon's
    background polls and prefetches only read, so they cannot make this flaky)."""
    return [route for route in emulator.counters() if not route.startswith(("GET ", "HEAD "))]


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
