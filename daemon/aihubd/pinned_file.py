"""A local file opened once, so that hashing and uploading read the same bytes.

Every read goes through one file descriptor (``os.pread``, no shared offset, safe from several
threads), so a file renamed over the path meanwhile does not change what is read. A change made
in place (the same inode written to) is seen by comparing ``fstat`` before and after:
`check_unchanged` raises, and the caller records nothing for that content.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import FailedPrecondition

__all__ = ["PinnedFile", "PinnedReader"]

CHUNK = 1 << 20


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    # Not the ctime: unlinking the file (a rename over its path) changes it, not the bytes.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class PinnedFile:
    """One open file: its path (for names), size, and reads by offset. A context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(self.fd)
        self._identity = _identity(st)
        self.size = st.st_size

    @property
    def name(self) -> str:
        return self.path.name

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def sha256(self) -> tuple[str, int]:
        """SHA-256 hex and size of the bytes read now (blocking)."""
        digest, offset = hashlib.sha256(), 0
        while chunk := self.read_at(offset, CHUNK):
            digest.update(chunk)
            offset += len(chunk)
        return digest.hexdigest(), offset

    def check_unchanged(self) -> None:
        """FailedPrecondition if the file was written to since it was opened."""
        if _identity(os.fstat(self.fd)) != self._identity:
            raise FailedPrecondition(
                f"{self.path} changed while the daemon read it; upload it again once it is complete"
            )

    def reader(self, offset: int = 0) -> PinnedReader:
        return PinnedReader(self, offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> PinnedFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class PinnedReader:
    """A binary file object over a `PinnedFile` with its own position (closing it keeps the fd)."""

    def __init__(self, pinned: PinnedFile, offset: int = 0) -> None:
        self._pinned = pinned
        self._pos = offset
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._pinned.size - self._pos, 0)
        data = self._pinned.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._pinned.size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> PinnedReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
