"""An exclusive lock on a directory for the daemon's whole life (the state dir, the cache dir).

A second daemon on the same directory would clean up the first one's in-progress files at its
start-up and then disagree with it about every job, so it is refused, naming the holder's pid.
The lock is ``flock`` on ``<dir>/aihubd.lock``: released by the kernel when the process dies
(even by SIGKILL), so a crash never leaves a lock that needs removing by hand. The file itself
is never deleted (deleting it would let two daemons lock two different files).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import AihubdError

__all__ = ["LOCK_NAME", "DirectoryInUse", "DirectoryUnusable", "hold_directory"]

LOCK_NAME = "aihubd.lock"


class DirectoryInUse(AihubdError):
    """Another daemon holds the directory's lock."""


class DirectoryUnusable(AihubdError):
    """The directory cannot be created, written or locked."""


def _unusable(what: str, directory: Path, exc: OSError) -> DirectoryUnusable:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DirectoryUnusable(
            f"no space left on the filesystem holding the {what} {directory}; free some space there "
            "(the daemon needs a little for its lock, database and cache) and start again"
        )
    return DirectoryUnusable(
        f"cannot use the {what} {directory}: {exc.strerror or exc}; make it a directory you (uid {os.getuid()}) "
        "can write, on a filesystem that is not read-only, or choose another one"
    )


@contextlib.contextmanager
def hold_directory(directory: Path, what: str, option: str) -> Iterator[None]:
    """Create ``directory`` (0700) if needed and hold its lock until the block ends.

    ``what`` names it in messages ("state dir"), ``option`` is the flag that chooses another."""
    path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _unusable(what, directory, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DirectoryInUse(
            f"the {what} {directory} is in use by another aihubd (pid {holder}); stop that daemon first "
            f"(or give this one its own {option})"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise _unusable(what, directory, exc) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise _unusable(what, directory, exc) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)
