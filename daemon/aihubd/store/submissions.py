"""The submission journal: client request ids and the Hub jobs they created (durably written).

``started_at`` is the daemon's wall clock (for people); ``hub_floor`` the Hub's own time before the
create was sent (from the Date of its answers), the bound a lost create is recovered by.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from .database import Database

__all__ = ["Submission", "SubmissionJournal"]


@dataclass(frozen=True)
class Submission:
    request_id: str
    fingerprint: str
    started_at: float
    job_id: str | None
    hub_floor: float | None = None


class SubmissionJournal:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def get(self, request_id: str) -> Submission | None:
        async with self._db.conn.execute(
            "SELECT request_id, fingerprint, started_at, job_id, hub_floor FROM submissions WHERE request_id = ?",
            (request_id,),
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

    async def begin(self, request_id: str, fingerprint: str, hub_floor: float | None = None) -> Submission:
        """Record, before asking the Hub, that this request is about to create a job, with the
        Hub's time then (``hub_floor``: no job it creates can be older)."""
        entry = Submission(request_id, fingerprint, self._clock(), None, hub_floor)

        async def write() -> None:
            async with self._db.transaction(durable=True) as conn:
                await conn.execute(
                    "INSERT INTO submissions (request_id, fingerprint, started_at, job_id, hub_floor) "
                    "VALUES (?, ?, ?, NULL, ?) ON CONFLICT(request_id) DO NOTHING",
                    (request_id, fingerprint, entry.started_at, hub_floor),
                )

        await asyncio.shield(write())
        return await self.get(request_id) or entry

    async def complete(self, request_id: str, job_id: str) -> None:
        async def write() -> None:
            async with self._db.transaction(durable=True) as conn:
                await conn.execute("UPDATE submissions SET job_id = ? WHERE request_id = ?", (job_id, request_id))

        await asyncio.shield(write())
