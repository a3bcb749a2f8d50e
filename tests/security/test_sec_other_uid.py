"""Attack it as another local user would: a client running as ``nobody`` is refused, also when
the socket itself is chmod 0666 (the 0700 directory protects it). A control run with the
directory opened up shows the harness *can* connect as nobody, so the refusals are real.

Needs root (to switch uid with setpriv/runuser); skipped visibly otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sec_support import DaemonProc, private_dir, spawn_daemon

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

NOBODY_UID = 65534

# Run by another uid: a raw connect() (its errno) and a real gRPC call (its status).
CLIENT = r"""
import errno, json, socket, sys
sys.path[:0] = sys.argv[2:]
path = sys.argv[1]
result = {}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(path)
    result["connect"] = "ok"
except OSError as exc:
    result["connect"] = errno.errorcode.get(exc.errno, str(exc.errno))
finally:
    s.close()
try:
    import grpc
    from aihubd_api.v1 import aihubd_pb2 as api, aihubd_pb2_grpc as api_grpc
except Exception as exc:
    result["grpc"] = "unavailable: " + type(exc).__name__
else:
    with grpc.insecure_channel("unix:" + path) as channel:
        try:
            info = api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=5)
            result["grpc"] = "OK"
            result["version"] = info.version
        except grpc.RpcError as exc:
            result["grpc"] = exc.code().name
print(json.dumps(result))
"""


def _as_nobody() -> list[str]:
    if os.getuid() != 0:
        pytest.skip(
            "needs root to run a client as another uid (setpriv/runuser); tests run as uid "
            f"{os.getuid()}, so the other-uid refusal is NOT tested here"
        )
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is installed: cannot run a client as another uid")


def _interpreter(prefix: list[str]) -> tuple[str, list[str]]:
    """A Python the other uid can run (the venv's may sit under an unreadable /root) and the
    import paths that give it grpc and aihubd_api, when they match its version."""
    paths = [str(Path(grpc.__file__).parents[1]), str(Path(api.__file__).parents[2])]
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"):
        if not candidate:
            continue
        probe = subprocess.run(
            [*prefix, candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0:
            same = probe.stdout.strip() == "{}.{}".format(*sys.version_info[:2])
            return candidate, paths if same else []
    pytest.skip("no Python interpreter is executable by nobody: cannot run the other-uid client")


def _connect_as_nobody(socket: Path) -> dict[str, str]:
    prefix = _as_nobody()
    python, paths = _interpreter(prefix)
    done = subprocess.run(
        [*prefix, python, "-c", CLIENT, str(socket), *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def daemon() -> Iterator[DaemonProc]:
    _as_nobody()  # skip before starting anything
    # The base is 0711: another user may traverse it (as in /run/user/<uid> or /tmp), nothing more.
    with private_dir(mode=0o711) as base:
        d = spawn_daemon(
            base / "run" / "aihubd.sock",
            base / "state",
            base / "daemon.log",
            ["--hub", "emulator", "--emulator-manual"],
        )
        try:
            yield d
        finally:
            d.stop()


def _owner_can_call(socket: Path) -> None:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        assert api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=10).version


@pytest.mark.parametrize("socket_mode", [None, 0o666], ids=["as-created", "socket-chmod-0666"])
def test_another_uid_is_refused(daemon: DaemonProc, socket_mode: int | None) -> None:
    if socket_mode is not None:
        os.chmod(daemon.socket, socket_mode)
    result = _connect_as_nobody(daemon.socket)
    assert result["connect"] == "EACCES", result
    assert result["grpc"] in ("UNAVAILABLE", "unavailable: ImportError", "unavailable: ModuleNotFoundError"), result
    _owner_can_call(daemon.socket)
    assert daemon.alive()


def test_the_socket_mode_alone_also_refuses(daemon: DaemonProc) -> None:
    """Defence in depth: even with the directory opened to traversal, a 0600 socket refuses."""
    os.chmod(daemon.socket.parent, 0o711)
    result = _connect_as_nobody(daemon.socket)
    assert result["connect"] == "EACCES", result
    _owner_can_call(daemon.socket)


def test_control_nobody_gets_in_when_both_are_opened(daemon: DaemonProc) -> None:
    """Without this, the refusals above could come from the harness (an unreachable path, a
    Python nobody cannot run) rather than from the modes the daemon set."""
    os.chmod(daemon.socket.parent, 0o711)
    os.chmod(daemon.socket, 0o666)
    result = _connect_as_nobody(daemon.socket)
    assert result["connect"] == "ok", result
    if not result["grpc"].startswith("unavailable:"):
        assert result["grpc"] == "OK", result
