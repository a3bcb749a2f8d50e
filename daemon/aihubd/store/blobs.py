"""A content-addressed file store: ``blobs/sha256/<hex>``, written only through ingests.

An ingest is a temp file under ``ingest/`` on the same filesystem; commit checks the size and
digest, fsyncs, renames into place, fsyncs the directory and makes the blob read-only. A blob
that already exists is success. Delivery puts a blob at a destination atomically: a hardlink
when possible, else ``copy_file_range`` (reflink-capable filesystems may share extents) into a
temp file beside the destination that is renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, ResourceExhausted

__all__ = ["BlobStore", "Digest", "IngestMismatch"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK = 64 << 20
TEMP_PREFIX = ".aihubd-partial-"  # hidden temp files beside a destination, renamed into place


class IngestMismatch(Exception):
    """The written bytes are not what was expected (size or digest)."""


@dataclass(frozen=True)
class Digest:
    hex: str
    size: int

    def __post_init__(self) -> None:
        if not _HEX.match(self.hex):
            raise ValueError(f"not a sha256 hex digest: {self.hex[:80]!r}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _no_space(exc: OSError, where: Path) -> Exception:
    """A local write failure as the caller's problem: a full disk, or a destination it cannot use."""
    if exc.errno == errno.ENOSPC:
        return ResourceExhausted(f"no space left on the device holding {where}")
    return InvalidArgument(f"cannot write into {str(where)[:200]}: {exc.strerror}")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs" / "sha256"
        self._ingest = root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ingest.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, digest: Digest | str) -> Path:
        return self._blobs / (digest.hex if isinstance(digest, Digest) else digest)

    def has(self, digest: Digest) -> bool:
        try:
            return self.path_of(digest).stat().st_size == digest.size
        except FileNotFoundError:
            return False

    def has_hex(self, hex_digest: str) -> bool:
        return self.path_of(hex_digest).exists()

    @contextlib.contextmanager
    def ingest_path(self) -> Iterator[Path]:
        """A fresh temp path on the store's filesystem; removed afterwards unless committed."""
        fd, name = tempfile.mkstemp(dir=self._ingest, prefix="ingest-")
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def commit(self, ingest: Path, digest: Digest) -> Digest:
        """Move a written, fsynced ingest into place as the blob ``digest`` (read-only).

        The caller computed the digest while writing; the size is checked here. A blob that
        already exists is success."""
        size = ingest.stat().st_size
        if size != digest.size:
            raise IngestMismatch(f"ingest holds {size} bytes, expected {digest.size}")
        final = self.path_of(digest)
        if self.has(digest):
            return digest
        os.chmod(ingest, 0o444)
        os.replace(ingest, final)
        _fsync_dir(final.parent)
        return digest

    def remove(self, hex_digest: str) -> int:
        """Delete a blob; returns the bytes freed."""
        path = self.path_of(hex_digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def clean_partial_ingests(self) -> int:
        """Remove ingests left by a crash; returns how many."""
        count = 0
        for leftover in self._ingest.iterdir():
            leftover.unlink(missing_ok=True)
            count += 1
        return count

    def on_disk(self) -> dict[str, int]:
        """Every committed blob: hex digest -> size."""
        found: dict[str, int] = {}
        for entry in os.scandir(self._blobs):
            if _HEX.match(entry.name) and stat.S_ISREG(entry.stat().st_mode):
                found[entry.name] = entry.stat().st_size
        return found

    def deliver(self, digest: Digest, destination: Path, *, hardlink: bool = True) -> str:
        """Make ``destination`` hold the blob, atomically. Returns "hardlink", "copy" or "present"."""
        source = self.path_of(digest)
        with contextlib.suppress(OSError):
            if os.path.samefile(source, destination):
                return "present"  # already a link to this blob (rename onto it would be a no-op)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=destination.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            method = "copy"
            if hardlink:
                tmp.unlink()
                try:
                    os.link(source, tmp)
                    method = "hardlink"
                except OSError:  # another filesystem, or links not allowed
                    pass
            if method == "copy":
                _copy(source, tmp)
            os.replace(tmp, destination)
            _fsync_dir(destination.parent)
            return method
        except OSError as exc:
            raise _no_space(exc, destination.parent) from None
        finally:
            tmp.unlink(missing_ok=True)  # gone after a successful replace; never left behind


def _copy(source: Path, dest: Path) -> None:
    with source.open("rb") as src, dest.open("wb") as dst:
        remaining = os.fstat(src.fileno()).st_size
        try:
            while remaining > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), min(remaining, COPY_CHUNK))
                if copied == 0:
                    break
                remaining -= copied
        except OSError:
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.chmod(dest, 0o644)
