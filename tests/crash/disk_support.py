"""A real, small filesystem (a tmpfs) that a crash test can fill up, to crash the daemon with its
disk full: mounting it (root only), filling it, and how much is free."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

FILLER = ".filler"


def mount_tmpfs(where: Path, size: int) -> str | None:
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


def unmount(where: Path) -> None:
    """Lazily: a killed child may still hold a file open there."""
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
