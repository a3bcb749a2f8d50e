"""A content-addressed file store: ``blobs/sha256/<hex>``, written only through ingests.

An ingest is a temp file under ``ingest/`` on the same filesystem; commit checks the size and
digest, fsyncs, renames into place, fsyncs the directory and makes the blob read-only (replacing
a blob already there). The store's directories are recreated on demand (someone may delete the
cache while the daemon runs). Each blob's inode change time is remembered when its digest was
last known good (at commit, or after ``verify``): a blob whose ctime moved since — an edit, even
one that restored the mtime — is hashed again before it is used (``needs_verify``).

Delivery puts a blob at a destination atomically: a hardlink when possible, else
``copy_file_range`` (reflink-capable filesystems may share extents) into a temp file beside the
destination that is renamed into place. The caller may choose that temp
name first (``temp_beside``) to journal it before it exists (``store.deliveries``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, ResourceExhausted

__all__ = ["TEMP_PREFIX", "BlobStore", "Digest", "IngestMismatch", "temp_beside"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK = 64 << 20
TEMP_PREFIX = ".aihubd-partial-"  # hidden temp files beside a destination, renamed into place


def temp_beside(destination: Path) -> Path:
    """A fresh hidden temp name in ``destination``'s directory (not created)."""
    return destination.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"


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
        self._verified: dict[str, int] = {}  # hex digest -> st_ctime_ns when last known good
        self._ensure_dirs()

    def _ensure_dirs(self) -> None:
        """(Re)create the store's directories: cheap when they exist, and the cache may have been deleted."""
        self._blobs.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ingest.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, digest: Digest | str) -> Path:
        return self._blobs / (digest.hex if isinstance(digest, Digest) else digest)

    def mtime_ns(self, digest: Digest) -> int:
        return self.path_of(digest).stat().st_mtime_ns

    def intact(self, digest: Digest, mtime_ns: int | None) -> bool:
        """The blob is there with its size and, when known, the modification time it was cached
        with (a blob is read-only, but an owner can chmod a hardlinked delivery and edit it)."""
        try:
            st = self.path_of(digest).stat()
        except FileNotFoundError:
            return False
        return st.st_size == digest.size and mtime_ns in (None, st.st_mtime_ns)

    def has_hex(self, hex_digest: str) -> bool:
        return self.path_of(hex_digest).exists()

    def needs_verify(self, digest: Digest) -> bool:
        """The blob's inode changed (content, mode, times, links) since its digest was last known
        good, or it was never checked in this daemon's life: hash it before trusting it."""
        try:
            ctime = self.path_of(digest).stat().st_ctime_ns
        except FileNotFoundError:
            return True
        return self._verified.get(digest.hex) != ctime

    def verify(self, digest: Digest) -> bool:
        """Hash the blob (blocking: run it in a worker thread); True when it holds ``digest``.
        A good blob is remembered as verified at its current ctime."""
        path = self.path_of(digest)
        try:
            with path.open("rb") as f:
                before = os.fstat(f.fileno())
                actual = hashlib.file_digest(f, "sha256").hexdigest()
                after = os.fstat(f.fileno())
        except FileNotFoundError:
            return False
        good = actual == digest.hex and after.st_size == digest.size
        if good and before.st_ctime_ns == after.st_ctime_ns:
            self._verified[digest.hex] = after.st_ctime_ns
        return good

    def _remember_good(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._verified[digest.hex] = self.path_of(digest).stat().st_ctime_ns

    @contextlib.contextmanager
    def ingest_path(self) -> Iterator[Path]:
        """A fresh temp path on the store's filesystem; removed afterwards unless committed."""
        self._ensure_dirs()
        fd, name = tempfile.mkstemp(dir=self._ingest, prefix="ingest-")
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def commit(self, ingest: Path, digest: Digest) -> Digest:
        """Move a written, fsynced ingest into place as the blob ``digest`` (read-only).

        The caller computed the digest while writing; the size is checked here. A blob already
        there is replaced: it may have been changed on disk through a hardlinked delivery (whose
        links keep that old inode)."""
        size = ingest.stat().st_size
        if size != digest.size:
            raise IngestMismatch(f"ingest holds {size} bytes, expected {digest.size}")
        final = self.path_of(digest)
        os.chmod(ingest, 0o444)
        self._ensure_dirs()
        os.replace(ingest, final)
        _fsync_dir(final.parent)
        self._remember_good(digest)  # the caller hashed exactly these bytes while writing them
        return digest

    def remove(self, hex_digest: str) -> int:
        """Delete a blob; returns the bytes freed."""
        path = self.path_of(hex_digest)
        self._verified.pop(hex_digest, None)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def clean_partial_ingests(self) -> int:
        """Remove ingests left by a crash; returns how many."""
        count = 0
        self._ensure_dirs()
        for leftover in self._ingest.iterdir():
            leftover.unlink(missing_ok=True)
            count += 1
        return count

    def on_disk(self) -> dict[str, int]:
        """Every committed blob: hex digest -> size."""
        found: dict[str, int] = {}
        self._ensure_dirs()
        for entry in os.scandir(self._blobs):
            if _HEX.match(entry.name) and stat.S_ISREG(entry.stat().st_mode):
                found[entry.name] = entry.stat().st_size
        return found

    def delivered(self, digest: Digest, destination: Path) -> bool:
        """``destination`` already is a link to this blob (delivering again would be a no-op)."""
        try:
            return os.path.samefile(self.path_of(digest), destination)
        except OSError:
            return False

    def deliver(self, digest: Digest, destination: Path, *, temp: Path | None = None, hardlink: bool = True) -> str:
        """Make ``destination`` hold the blob, atomically, through the temp file ``temp`` beside
        it (default: a fresh ``temp_beside(destination)``), which must not exist yet and is
        never left behind by a failure. Returns "hardlink", "copy" or "present"."""
        if self.delivered(digest, destination):
            return "present"
        source = self.path_of(digest)
        tmp = temp or temp_beside(destination)
        try:  # create the temp exclusively: whatever the failure, only a file we made is removed
            good_before = not self.needs_verify(digest)
            linked = hardlink and _link(source, tmp)
            if linked and good_before:  # our own link moved the ctime, not a change of content
                self._remember_good(digest)
            fd = None if linked else os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _no_space(exc, destination.parent) from None
        try:
            if fd is not None:
                _copy(source, fd)
            os.replace(tmp, destination)
            _fsync_dir(destination.parent)
            return "hardlink" if linked else "copy"
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _no_space(exc, destination.parent) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _link(source: Path, tmp: Path) -> bool:
    """Hardlink ``source`` as ``tmp``; False when links are impossible (another filesystem, not allowed)."""
    try:
        os.link(source, tmp)
    except FileExistsError:
        raise
    except OSError:
        return False
    return True


def _copy(source: Path, fd: int) -> None:
    """Copy ``source`` into the new file open as ``fd`` (closed here), fsynced, mode 0644."""
    with os.fdopen(fd, "wb") as dst, source.open("rb") as src:
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
        os.fchmod(dst.fileno(), 0o644)
