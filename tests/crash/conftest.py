"""The crash harness reuses the integration tests' process helpers; ``small_fs`` gives a real,
small filesystem (a tmpfs) that a test can fill up, to crash the daemon with its disk full."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

FILLER = ".filler"


def _mount_tmpfs(where: Path, size: int) -> str | None:
    """Mount a ``size``-byte tmpfs at ``where``; why not, when it cannot be done here."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root (CAP_SYS_ADMIN)"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """``small_fs(name, size)``: the directory ``tmp_path/name`` on a tmpfs of ``size`` bytes
    (unmounted at the end). Skips when this machine does not allow mounting one."""
    mounted: list[Path] = []

    def make(name: str, size: int) -> Path:
        where = tmp_path / name
        where.mkdir()
        why = _mount_tmpfs(where, size)
        if why is not None:
            pytest.skip(f"no small filesystem to fill: {why}")
        mounted.append(where)
        return where

    try:
        yield make
    finally:
        for where in reversed(mounted):  # lazily: a killed child may still hold a file open
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill ``directory``'s filesystem with one file until only about ``leave`` bytes (rounded
    to pages) stay free; with ``leave=0`` until a write fails with ENOSPC. Returns the file."""
    filler = directory / FILLER
    st = os.statvfs(directory)
    room = st.f_bavail * st.f_frsize - leave
    block = b"\0" * (1 << 16)
    with filler.open("ab", buffering=0) as f:  # unbuffered: nothing left to flush at close
        try:
            while room > 0:
                room -= f.write(block[: min(len(block), room)]) or 0
            while leave == 0:
                f.write(block[:4096])
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize
