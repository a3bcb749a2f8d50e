"""The socket's surroundings: a private directory, one daemon per socket, mode 0600.

gRPC would silently unlink a live socket and steal its path, so a lock file decides who owns
it, and an existing socket is health-checked before it is replaced (only a socket nobody
listens on is stale); the directory must be a real 0700 directory owned by us before anything
is bound there (what gpg-agent and OpenSSH check). Never ``unix-abstract:``: abstract sockets
have no access control at all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import AihubdError

__all__ = ["SocketError", "claim_socket", "prepare_socket_dir", "restrict_socket"]

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, NUL included
PROBE_TIMEOUT = 2.0  # seconds to wait for connect() on an existing socket


class SocketError(AihubdError):
    """The socket cannot be served safely; the message says why and what to do."""


def _check_path(socket_path: Path) -> None:
    if not socket_path.is_absolute():
        raise SocketError(f"socket path {socket_path} must be absolute")
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        raise SocketError(
            f"socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes; "
            "choose a shorter --socket or AIHUBD_SOCKET"
        )


def prepare_socket_dir(socket_path: Path) -> None:
    """Create the socket's directory 0700 if missing, then insist it is ours and private."""
    _check_path(socket_path)
    directory = socket_path.parent
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        old = os.umask(0o077)
        try:
            directory.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            pass  # created meanwhile (or a dangling symlink): the checks below decide
        except OSError as exc:
            raise SocketError(f"cannot create the socket directory {directory}: {exc.strerror}") from None
        finally:
            os.umask(old)
        info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise SocketError(
            f"{directory} must be a real directory, not a symlink or a file; remove it or choose another --socket"
        )
    if info.st_uid != os.getuid():
        raise SocketError(
            f"{directory} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); choose another --socket"
        )
    if info.st_mode & 0o077:
        raise SocketError(
            f"{directory} is accessible to other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run `chmod 700 {directory}`"
        )


def _listening(socket_path: Path) -> bool:
    """Whether some process accepts connections on the Unix socket at ``socket_path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT)
    try:
        probe.connect(os.fsencode(socket_path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True  # a listener with a full backlog is still a listener
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise SocketError(f"cannot check the existing socket {socket_path}: {exc.strerror}") from None
    finally:
        probe.close()
    return True


def _clear_stale(socket_path: Path) -> None:
    """Remove a socket nobody listens on; refuse to touch anything else."""
    try:
        info = os.lstat(socket_path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketError(
            f"{socket_path} exists and is not a socket; aihubd will not replace it: "
            "remove it or choose another --socket"
        )
    if _listening(socket_path):
        raise SocketError(
            f"another process is listening on {socket_path} (without holding its lock file); "
            "stop it first or choose another --socket"
        )
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # stale: left by a daemon that died


@contextlib.contextmanager
def claim_socket(socket_path: Path) -> Iterator[None]:
    """Hold ``<socket>.lock`` for the daemon's life; refuse if another daemon holds it.

    A refused claim leaves everything of the running daemon (socket, lock file, pid) untouched.
    """
    _check_path(socket_path)
    lock_path = socket_path.with_name(socket_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SocketError(f"cannot open the lock file {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SocketError(
            f"another aihubd (pid {other}) already serves {socket_path}; stop it first or choose another --socket"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        _clear_stale(socket_path)  # refuses (touching nothing) if someone still listens there
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    # From here on the socket path is ours: clean it up whatever happens.
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(socket_path)
            if stat.S_ISSOCK(info.st_mode):
                socket_path.unlink()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def restrict_socket(socket_path: Path) -> None:
    """Make the freshly bound socket 0600 and check it is the socket we expect."""
    os.chmod(socket_path, 0o600)
    info = os.lstat(socket_path)
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) != 0o600:
        raise SocketError(
            f"{socket_path} is not the private socket aihubd just bound "
            f"(mode {stat.S_IMODE(info.st_mode):04o}, uid {info.st_uid})"
        )
