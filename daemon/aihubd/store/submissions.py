"""The submission journal: client request ids and the Hub jobs they created (durably written)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .database import Database

__all__ = ["Submission", "SubmissionJournal"]


@dataclass(frozen=True)
class Submission:
    request_id: str
    fingerprint: str
    started_at: float
    job_id: str | None


class SubmissionJournal:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, request_id: str) -> Submission | None:
        async with self._db.conn.execute(
            "SELECT request_id, fingerprint, started_at, job_id FROM submissions WHERE request_id = ?", (request_id,)
        ) as cur:
            row = await cur.fetchone()
        return Submission(*row) if row else None

    async def claimant(self, job_id: str) -> str | None:
        """The request id of the submission that created ``job_id``, if one is journaled."""
        async with self._db.conn.execute(
            "SELECT request_id FROM submissions WHERE job_id = ? LIMIT 1", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def begin(self, request_id: str, fingerprint: str) -> Submission:
        """Record, before asking the Hub, that this request is about to create a job."""
        entry = Submission(request_id, fingerprint, time.time(), None)

        async def write() -> None:
            async with self._db.transaction(durable=True) as conn:
                await conn.execute(
                    "INSERT INTO submissions (request_id, fingerprint, started_at, job_id) VALUES (?, ?, ?, NULL) "
                    "ON CONFLICT(request_id) DO NOTHING",
                    (request_id, fingerprint, entry.started_at),
                )

        await asyncio.shield(write())
        return await self.get(request_id) or entry

    async def complete(self, request_id: str, job_id: str) -> None:
        async def write() -> None:
            async with self._db.transaction(durable=True) as conn:
                await conn.execute("UPDATE submissions SET job_id = ? WHERE request_id = ?", (job_id, request_id))

        await asyncio.shield(write())
