"""The socket's surroundings: a private directory, one daemon per socket, mode 0600.

gRPC would silently unlink a live socket and steal its path, so a lock file decides who owns
it; the directory must be a real 0700 directory owned by us before anything is bound there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import AihubdError

__all__ = ["SocketError", "claim_socket", "prepare_socket_dir"]

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, NUL included


class SocketError(AihubdError):
    """The socket cannot be served safely; the message says why and what to do."""


def prepare_socket_dir(socket_path: Path) -> None:
    """Create the socket's directory 0700 if missing, then insist it is ours and private."""
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        raise SocketError(f"socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes; "
                          "choose a shorter --socket or AIHUBD_SOCKET")
    directory = socket_path.parent
    if not directory.exists():
        old = os.umask(0o077)
        try:
            directory.mkdir(parents=True, mode=0o700)
        finally:
            os.umask(old)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise SocketError(f"{directory} must be a real directory, not a symlink or a file")
    if info.st_uid != os.getuid():
        raise SocketError(f"{directory} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})")
    if info.st_mode & 0o077:
        raise SocketError(f"{directory} is accessible to other users (mode {stat.S_IMODE(info.st_mode):o}); "
                          f"run `chmod 700 {directory}`")


@contextlib.contextmanager
def claim_socket(socket_path: Path) -> Iterator[None]:
    """Hold ``<socket>.lock`` for the daemon's life; refuse if another daemon holds it."""
    lock_path = socket_path.with_name(socket_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise SocketError(f"another aihubd (pid {other}) already serves {socket_path}; "
                              "stop it first or choose another --socket") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()  # stale: no daemon holds the lock
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        os.close(fd)


def restrict_socket(socket_path: Path) -> None:
    os.chmod(socket_path, 0o600)
