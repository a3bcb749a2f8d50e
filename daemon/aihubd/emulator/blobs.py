"""Blob files of the emulator, under ``<state_dir>/blobs``.

Layout::

    blobs/models/<model_id>                      a model's content
    blobs/uploads/<model_id>/<upload_id>/<part>  uploaded parts, until completion
    blobs/jobs/<job_id>/<artifact_type>.log      a job's log artifacts

Every write goes to a temporary name first and is renamed into place. Each blob has S3's
``ETag``: the MD5 of its bytes, or for a model assembled from multipart parts the MD5 of the
parts' MD5s and ``-<parts>`` (kept in ``<file>.etag`` beside it), as S3 states them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["BlobStore"]

_COPY_BLOCK = 1 << 20


class BlobStore:
    """Paths and atomic writes of the emulator's blob files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._md5s: dict[tuple[Path, int, int], str] = {}  # (path, size, mtime_ns) -> MD5 hex
        for sub in ("models", "uploads", "jobs"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def model_path(self, model_id: str) -> Path:
        return self.root / "models" / model_id

    def upload_dir(self, model_id: str, upload_id: str) -> Path:
        return self.root / "uploads" / model_id / upload_id

    def part_path(self, model_id: str, upload_id: str, part: int) -> Path:
        return self.upload_dir(model_id, upload_id) / str(part)

    def artifact_path(self, job_id: str, artifact_type: int) -> Path:
        return self.root / "jobs" / job_id / f"{artifact_type}.log"

    async def write_stream(self, path: Path, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """Write a request body to ``path``; return its size and MD5 hex (the part ETag)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        # The emulator is a loopback test double; a blocking local write per chunk is fine for it.
        with open(tmp, "wb") as out:  # noqa: ASYNC230
            async for chunk in chunks:
                out.write(chunk)
                md5.update(chunk)
                size += len(chunk)
        os.replace(tmp, path)
        return size, md5.hexdigest()

    def assemble(self, parts: list[Path], dest: Path) -> tuple[int, str]:
        """Concatenate ``parts`` into ``dest``; return size and SHA-256 hex. Blocking."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        sha = hashlib.sha256()
        part_md5s = b""
        size = 0
        with open(tmp, "wb") as out:
            for part in parts:
                md5 = hashlib.md5(usedforsecurity=False)
                with open(part, "rb") as source:
                    while block := source.read(_COPY_BLOCK):
                        out.write(block)
                        sha.update(block)
                        md5.update(block)
                        size += len(block)
                part_md5s += md5.digest()
        multipart = f"{hashlib.md5(part_md5s, usedforsecurity=False).hexdigest()}-{len(parts)}"
        self._etag_file(dest).write_text(multipart, encoding="ascii")
        os.replace(tmp, dest)
        return size, sha.hexdigest()

    @staticmethod
    def _etag_file(path: Path) -> Path:
        return path.with_name(path.name + ".etag")

    def etag(self, path: Path) -> str:
        """S3's ETag of the blob at ``path`` (unquoted). Blocking: hashes a single-part blob."""
        try:
            return self._etag_file(path).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        st = path.stat()
        key = (path, st.st_size, st.st_mtime_ns)
        known = self._md5s.get(key)
        if known is None:
            md5 = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as source:
                while block := source.read(_COPY_BLOCK):
                    md5.update(block)
            known = self._md5s[key] = md5.hexdigest()
        return known

    def write_text(self, path: Path, text: str) -> None:
        """Write ``text`` (UTF-8) to ``path`` atomically. Blocking."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(text.encode("utf-8"))
        os.replace(tmp, path)

    def drop_uploads(self, model_id: str) -> None:
        """Remove every pending upload part of a model."""
        shutil.rmtree(self.root / "uploads" / model_id, ignore_errors=True)
