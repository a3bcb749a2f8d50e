"""Access through the filesystem: a private socket directory, a 0600 socket whatever the umask,
one daemon per socket, stale sockets replaced, and nothing listening anywhere else."""

from __future__ import annotations

import os
import socket as socketlib
import stat
from pathlib import Path

import grpc
import pytest
from sec_support import (
    Emulator,
    Listener,
    clean_env,
    listening_sockets,
    run_refused,
    spawn_daemon,
)

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

EMBEDDED = ["--hub", "emulator", "--emulator-manual"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _daemon_info(socket: Path) -> api.DaemonInfo:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        return api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=20)


def _hub_env(base: Path) -> dict[str, str]:
    return clean_env(AIHUBD_HUB_TOKEN="test-token-security", QAIHUB_CLIENT_INI=str(base / "none.ini"))


# ------------------------------------------------------------------ directory and socket modes


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077], ids=["umask000", "umask022", "umask077"])
def test_creates_private_dirs_and_a_0600_socket_whatever_the_umask(base: Path, umask: int) -> None:
    socket = base / "a" / "b" / "run" / "aihubd.sock"
    d = spawn_daemon(socket, base / "state", base / "daemon.log", EMBEDDED, umask=umask)
    try:
        for directory in (base / "a", base / "a" / "b", base / "a" / "b" / "run"):
            info = os.lstat(directory)
            assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            assert _mode(directory) == 0o700, f"{directory} is {_mode(directory):04o} under umask {umask:03o}"
        info = os.lstat(socket)
        assert stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid()
        assert _mode(socket) == 0o600, f"socket is {_mode(socket):04o} under umask {umask:03o}"
        lock = socket.with_name(socket.name + ".lock")
        assert _mode(lock) == 0o600
        assert lock.read_text().strip() == str(d.pid)
        assert _daemon_info(socket).hub_kind == "emulator"
    finally:
        d.stop()


def _make_unsafe(kind: str, run: Path, base: Path) -> None:
    """Put something other than a private directory of ours where the socket directory goes."""
    if kind.startswith("mode-"):
        run.mkdir()
        os.chmod(run, int(kind.removeprefix("mode-"), 8))
    elif kind == "symlink":
        real = base / "real"
        real.mkdir(mode=0o700)
        run.symlink_to(real)
    elif kind == "dangling-symlink":
        run.symlink_to(base / "nowhere")
    elif kind == "file":
        run.write_text("not a directory")
    elif kind == "other-owner":
        if os.getuid() != 0:
            pytest.skip("needs root to give a directory to another user (tests are not running as root)")
        run.mkdir(mode=0o700)
        os.chown(run, 65534, 65534)
    else:
        raise AssertionError(kind)


UNSAFE = {
    "mode-0755": "is accessible to other users (mode 0755)",
    "mode-0750": "is accessible to other users (mode 0750)",
    "mode-0701": "is accessible to other users (mode 0701)",
    "mode-0770": "is accessible to other users (mode 0770)",
    "mode-1777": "is accessible to other users (mode 1777)",
    "symlink": "must be a real directory, not a symlink",
    "dangling-symlink": "must be a real directory, not a symlink",
    "file": "must be a real directory",
    "other-owner": "belongs to uid 65534, not to you",
}


@pytest.mark.parametrize("kind", list(UNSAFE))
def test_refuses_an_unsafe_socket_directory_and_creates_no_socket(base: Path, kind: str) -> None:
    run = base / "run"
    _make_unsafe(kind, run, base)

    def around() -> list[str]:  # everything in and around the socket dir (the state dir is the daemon's)
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if "state" not in p.relative_to(base).parts)

    before = around()
    socket = run / "aihubd.sock"

    result = run_refused(socket, base / "state", EMBEDDED)

    assert result.returncode != 0
    assert "aihubd: error:" in result.stderr and UNSAFE[kind] in result.stderr, result.stderr
    assert str(run) in result.stderr
    assert not os.path.lexists(socket)
    assert around() == before, "the refused daemon created something in or around the socket dir"
    assert not (base / "nowhere").exists()
    assert "ready" not in result.stdout


def test_refuses_a_socket_path_too_long_for_sun_path(base: Path) -> None:
    socket = base / ("d" * 60) / ("s" * 60 + ".sock")
    result = run_refused(socket, base / "state", EMBEDDED)
    assert result.returncode != 0
    assert "longer than 107 bytes" in result.stderr
    assert not socket.parent.exists()


# ------------------------------------------------------------------ one daemon per socket


@pytest.mark.parametrize("hub", ["embedded", "hub"])
def test_second_daemon_names_the_running_pid_and_leaves_it_serving(base: Path, emulator: Emulator, hub: str) -> None:
    socket = base / "run" / "aihubd.sock"
    hub_args = EMBEDDED if hub == "embedded" else ["--hub-url", emulator.base_url]
    env = clean_env() if hub == "embedded" else _hub_env(base)
    first = spawn_daemon(socket, base / "state", base / "daemon.log", hub_args, env=env)
    try:
        before = os.lstat(socket)
        lock = socket.with_name(socket.name + ".lock")

        # Same socket; same state dir for the Hub case (its database must not be opened).
        second_state = base / "state2" if hub == "embedded" else base / "state"
        result = run_refused(socket, second_state, hub_args, env=env)

        assert result.returncode != 0
        assert f"pid {first.pid}" in result.stderr, result.stderr
        assert "already serves" in result.stderr
        assert first.alive()
        after = os.lstat(socket)  # the very same socket file: not unlinked, not re-bound
        assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)
        assert stat.S_ISSOCK(after.st_mode) and _mode(socket) == 0o600
        assert lock.read_text().strip() == str(first.pid)
        assert _daemon_info(socket).version  # still serving on the same path
    finally:
        assert first.stop() == 0


def _stale_socket(path: Path) -> None:
    """A socket file nobody listens on, like the one a killed daemon leaves behind."""
    s = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_stale_socket_with_no_listener_is_replaced(base: Path) -> None:
    run = base / "run"
    run.mkdir(mode=0o700)
    socket = run / "aihubd.sock"
    _stale_socket(socket)
    probe = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    with pytest.raises(ConnectionRefusedError):  # stale: nobody listens there
        probe.connect(str(socket))
    probe.close()
    socket.with_name(socket.name + ".lock").write_text("999999999\n")  # a dead daemon's pid, no flock held

    d = spawn_daemon(socket, base / "state", base / "daemon.log", EMBEDDED)
    try:
        # (No inode comparison: the filesystem may reuse the stale socket's inode number.)
        assert _mode(socket) == 0o600
        assert _daemon_info(socket).version
        assert socket.with_name(socket.name + ".lock").read_text().strip() == str(d.pid)
    finally:
        assert d.stop() == 0


def test_a_live_listener_without_the_lock_is_not_stolen(base: Path) -> None:
    """gRPC alone would unlink a live socket and bind over it; the daemon health-checks first."""
    run = base / "run"
    run.mkdir(mode=0o700)
    socket = run / "aihubd.sock"
    listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    try:
        listener.bind(str(socket))
        listener.listen(8)
        inode = os.lstat(socket).st_ino

        result = run_refused(socket, base / "state", EMBEDDED)

        assert result.returncode != 0
        assert "another process is listening on" in result.stderr, result.stderr
        assert os.lstat(socket).st_ino == inode
        probe = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        probe.connect(str(socket))  # the foreign listener still gets its connections
        probe.close()
    finally:
        listener.close()


def test_something_else_at_the_socket_path_is_left_alone(base: Path) -> None:
    run = base / "run"
    run.mkdir(mode=0o700)
    socket = run / "aihubd.sock"
    socket.write_text("precious")
    result = run_refused(socket, base / "state", EMBEDDED)
    assert result.returncode != 0
    assert "exists and is not a socket" in result.stderr, result.stderr
    assert socket.read_text() == "precious"


# ------------------------------------------------------------------ nothing but the socket


def test_listens_on_its_unix_socket_only(base: Path, emulator: Emulator) -> None:
    """No abstract socket, no TCP port unless asked: checked in /proc, not in the source."""
    socket = base / "run" / "aihubd.sock"
    d = spawn_daemon(socket, base / "state", base / "daemon.log", ["--hub-url", emulator.base_url], env=_hub_env(base))
    try:
        assert _daemon_info(socket).hub_reachable
        assert listening_sockets(d.pid) == [Listener("unix", str(socket))]
    finally:
        d.stop()
