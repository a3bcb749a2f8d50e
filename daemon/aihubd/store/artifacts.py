"""The artifact cache's index: which blob holds which job's file, LRU order, uploads made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database

__all__ = ["TARGET_MODEL", "ArtifactIndex", "CachedFile"]

# The target model is kept beside the artifact types (whose wire values are all > 0).
TARGET_MODEL = -1


@dataclass(frozen=True)
class CachedFile:
    filename: str
    digest: str
    size: int
    mtime_ns: int | None = None  # the blob's when cached (None: cached before this was recorded)


class ArtifactIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def files(self, job_id: str, kind: int) -> list[CachedFile]:
        async with self._db.conn.execute(
            "SELECT a.filename, a.digest, b.size, b.mtime_ns FROM artifacts a JOIN blobs b USING (digest) "
            "WHERE a.job_id = ? AND a.kind = ? ORDER BY a.filename",
            (job_id, kind),
        ) as cur:
            return [CachedFile(*row) for row in await cur.fetchall()]

    async def record(self, job_id: str, kind: int, files: Sequence[CachedFile]) -> None:
        """Index freshly ingested blobs for one job's artifact kind, replacing older entries."""
        now = time.time()

        async def write() -> None:
            async with self._db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO blobs (digest, size, last_used, mtime_ns) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(digest) DO UPDATE SET last_used = excluded.last_used, mtime_ns = excluded.mtime_ns",
                    [(f.digest, f.size, now, f.mtime_ns) for f in files],
                )
                await conn.execute("DELETE FROM artifacts WHERE job_id = ? AND kind = ?", (job_id, kind))
                await conn.executemany(
                    "INSERT INTO artifacts (job_id, kind, filename, digest) VALUES (?, ?, ?, ?)",
                    [(job_id, kind, f.filename, f.digest) for f in files],
                )

        await asyncio.shield(write())

    async def touch(self, digests: Sequence[str]) -> None:
        if digests:
            async with self._db.transaction() as conn:
                await conn.executemany(
                    "UPDATE blobs SET last_used = ? WHERE digest = ?", [(time.time(), d) for d in digests]
                )

    async def total_size(self) -> int:
        async with self._db.conn.execute("SELECT COALESCE(SUM(size), 0) FROM blobs") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def least_recently_used(self, limit: int = 100) -> list[tuple[str, int]]:
        """Unpinned blobs, least recently used first: (digest, size)."""
        async with self._db.conn.execute(
            "SELECT digest, size FROM blobs WHERE pinned = 0 ORDER BY last_used LIMIT ?", (limit,)
        ) as cur:
            return [(d, int(s)) for d, s in await cur.fetchall()]

    async def forget_blobs(self, digests: Sequence[str]) -> None:
        """Drop blobs (and the artifact rows pointing at them) from the index."""
        if digests:
            async with self._db.transaction() as conn:
                await conn.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in digests])

    async def indexed_blobs(self) -> dict[str, int]:
        async with self._db.conn.execute("SELECT digest, size FROM blobs") as cur:
            return {d: int(s) for d, s in await cur.fetchall()}

    # -- uploads made, so the same content is not uploaded twice -------------------------------

    async def find_upload(self, sha256: str, size: int, project_id: str) -> str | None:
        async with self._db.conn.execute(
            "SELECT model_id FROM uploads WHERE sha256 = ? AND size = ? AND project_id = ?",
            (sha256, size, project_id),
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def record_upload(self, sha256: str, size: int, project_id: str, model_id: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO uploads (sha256, size, project_id, model_id, uploaded_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(sha256, size, project_id) DO UPDATE SET model_id = excluded.model_id, "
                "uploaded_at = excluded.uploaded_at",
                (sha256, size, project_id, model_id, time.time()),
            )

    async def forget_upload(self, sha256: str, size: int, project_id: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM uploads WHERE sha256 = ? AND size = ? AND project_id = ?", (sha256, size, project_id)
            )
