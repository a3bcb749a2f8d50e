"""Jobs in SQLite, with an in-memory read cache: the database is written first, then the cache."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..model import ArtifactType, Device, Job, JobState, ModelRef
from .database import Database
from .events import EventKind, EventLog, JobChange, Pending, changed_fields

__all__ = ["JobStore", "progress"]

log = logging.getLogger(__name__)

_COLUMNS = (
    "job_id, name, state, message, creation_time, last_updated_time, device, models, options, "
    "project_id, target_model_id, artifacts, refreshed_at, terminal"
)


_UPSERT = (
    f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * 14)}) ON CONFLICT(job_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.job_id,
        job.name,
        int(job.state),
        job.message,
        job.creation_time.timestamp(),
        _ts(job.last_updated_time),
        json.dumps([job.device.name, job.device.os, list(job.device.attributes)]),
        json.dumps([[m.model_id, m.name] for m in job.models]),
        job.options,
        job.project_id,
        job.target_model_id,
        ",".join(str(int(a)) for a in job.available_artifacts),
        _ts(job.refreshed_at),
        int(job.terminal),
    )


def _job(row: Sequence[Any]) -> Job:
    name, os_, attributes = json.loads(row[6])
    return Job(
        job_id=row[0],
        name=row[1],
        state=JobState.of(row[2]),
        message=row[3],
        creation_time=_dt(row[4]) or datetime.fromtimestamp(0, tz=UTC),
        last_updated_time=_dt(row[5]),
        device=Device(name, os_, tuple(attributes)),
        models=tuple(ModelRef(m, n) for m, n in json.loads(row[7])),
        options=row[8],
        project_id=row[9],
        target_model_id=row[10],
        available_artifacts=tuple(ArtifactType(int(a)) for a in row[11].split(",") if a),
        refreshed_at=_dt(row[12]),
    )


def progress(state: JobState) -> int:
    """How far along a job in ``state`` is: created, then running (any working state), then
    finished. A job only moves forward; running states of equal rank may follow each other."""
    if state.terminal:
        return 2
    return 0 if state == JobState.CREATED else 1


def _backwards(old: Job, new: Job) -> bool:
    """``new`` reports ``old``'s job at an earlier stage (or a finished job finishing otherwise)."""
    if old.terminal:
        return new.state != old.state
    return progress(new.state) < progress(old.state)


class JobStore:
    """Reads come from memory (jobs in flight are loaded at start, others on first read)."""

    def __init__(self, db: Database, events: EventLog | None = None) -> None:
        self._db = db
        self._cache: dict[str, Job] = {}
        self._reported_backwards: set[tuple[str, JobState, JobState]] = set()
        # Every write below records its changes here, in its own transaction (the feed).
        self.events = events or EventLog(db)

    async def load_in_flight(self) -> int:
        """Fill the cache with every non-terminal job; returns how many."""
        async with self._db.conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE terminal = 0") as cur:
            for row in await cur.fetchall():
                job = _job(row)
                self._cache[job.job_id] = job
        return len(self.in_flight())

    def in_flight(self) -> list[Job]:
        return [job for job in self._cache.values() if not job.terminal]

    def cached(self, job_id: str) -> Job | None:
        return self._cache.get(job_id)

    async def get(self, job_id: str) -> Job | None:
        job = self._cache.get(job_id)
        if job is not None:
            return job
        async with self._db.conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        job = _job(row)
        self._cache[job_id] = job
        return job

    async def save(self, jobs: Iterable[Job]) -> None:
        """Write jobs (and a history row for each new state) in one transaction, then cache them."""
        jobs = list(jobs)
        if not jobs:
            return
        for job in jobs:
            if job.job_id not in self._cache:
                await self.get(job.job_id)  # a finished job of an earlier life is on disk only
        jobs = [self._forward_only(job) for job in jobs]
        history = [
            (job.job_id, int(job.state), job.message, _ts(job.refreshed_at) or datetime.now(UTC).timestamp())
            for job in jobs
            if (old := self._cache.get(job.job_id)) is None or old.state != job.state
        ]
        # Shielded: a cancelled caller must not leave a transaction half-way on the connection.
        await asyncio.shield(self._write(jobs, history))

    def _forward_only(self, job: Job) -> Job:
        """State is monotonic in the daemon: a report that moves a job backwards (the Hub said
        LINKING_MODELS, now says CREATED) is ignored, the job kept as it was (only ``refreshed_at``
        moves), and logged once per job and pair of states."""
        old = self._cache.get(job.job_id)
        if old is None or not _backwards(old, job):
            return job
        key = (job.job_id, old.state, job.state)
        if key not in self._reported_backwards:
            self._reported_backwards.add(key)
            log.warning(
                "job %s: the Hub reported %s after %s; ignoring the backwards report",
                job.job_id,
                job.state.name,
                old.state.name,
            )
        return dataclasses.replace(old, refreshed_at=job.refreshed_at or old.refreshed_at)

    async def _write(self, jobs: list[Job], history: list[tuple[Any, ...]]) -> None:
        async with self._db.transaction() as conn:
            before = await self._stored(conn, [job.job_id for job in jobs])
            await conn.executemany(_UPSERT, [_row(job) for job in jobs])
            # Saved means tracked again (an explicit track or get): lift any tombstone.
            await conn.executemany(
                "DELETE FROM untracked WHERE job_id = ?", [(job.job_id,) for job in jobs if job.job_id not in before]
            )
            await conn.executemany(
                "INSERT INTO job_history (job_id, state, message, observed_at) VALUES (?, ?, ?, ?)", history
            )
            changes = await self.events.record(conn, _pending(jobs, before))
        # Committed: the cache and the feed follow at once (no await, so in revision order).
        for job in jobs:
            self._cache[job.job_id] = job
        self.events.publish(changes)

    @staticmethod
    async def _stored(conn: Any, job_ids: list[str]) -> dict[str, Job]:
        """The committed rows of these jobs, read inside the writer's transaction."""
        found: dict[str, Job] = {}
        for start in range(0, len(job_ids), 500):  # SQLite's bound-parameter limit
            chunk = job_ids[start : start + 500]
            async with conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE job_id IN ({', '.join('?' * len(chunk))})", chunk
            ) as cur:
                for row in await cur.fetchall():
                    found[row[0]] = _job(row)
        return found

    async def snapshot(self) -> tuple[list[Job], int]:
        """Every job as committed, newest first, and the store revision they show, read together.

        Shielded: a WatchJobs stream cancelled mid-read must not leave the transaction open."""
        return await asyncio.shield(self._snapshot())

    async def _snapshot(self) -> tuple[list[Job], int]:
        async with self._db.transaction() as conn:
            revision, _ = await self.events.revisions_in(conn)
            async with conn.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY creation_time DESC, job_id") as cur:
                rows = await cur.fetchall()
        # After the lock, with no await: the cache holds what was committed up to ``revision``.
        # Cached jobs are shared, not decoded again: a hundred streams listing 10,000 jobs each
        # hold references, not a million copies. The rest is decoded here (writers do not wait).
        return [self._cache.get(row[0]) or _job(row) for row in rows], revision

    async def touch(self, job_id: str, field: str) -> bool:
        """Record that something the jobs table does not hold (e.g. sharing) changed on a tracked job."""
        changes = await asyncio.shield(self._touch(job_id, field))
        return bool(changes)

    async def _touch(self, job_id: str, field: str) -> list[JobChange]:
        async with self._db.transaction() as conn:
            job = (await self._stored(conn, [job_id])).get(job_id)
            pending = [] if job is None else [Pending(EventKind.CHANGED, job, job, (field,))]
            changes = await self.events.record(conn, pending)
        self.events.publish(changes)
        return changes

    async def history(self, job_id: str) -> list[tuple[JobState, str, datetime]]:
        async with self._db.conn.execute(
            "SELECT state, message, observed_at FROM job_history WHERE job_id = ? ORDER BY observed_at, rowid",
            (job_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [(JobState.of(s), m, _dt(t) or datetime.now(UTC)) for s, m, t in rows]

    def mark_refreshed(self, job_ids: Iterable[str], when: datetime) -> None:
        """Note in memory that the Hub confirmed these jobs unchanged (not worth a disk write)."""
        for job_id in job_ids:
            job = self._cache.get(job_id)
            if job is not None and (job.refreshed_at is None or job.refreshed_at < when):
                self._cache[job_id] = dataclasses.replace(job, refreshed_at=when)

    async def count(self) -> int:
        """How many jobs the daemon tracks (any state)."""
        async with self._db.conn.execute("SELECT COUNT(*) FROM jobs") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def list(
        self, states: Sequence[JobState], name_contains: str, limit: int, offset: int
    ) -> tuple[list[Job], int]:
        """Jobs newest first matching the filter, and how many match in all."""
        where, params = [], []  # type: ignore[var-annotated]
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(int(s) for s in states)
        if name_contains:
            where.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        async with self._db.conn.execute(f"SELECT COUNT(*) FROM jobs {clause}", params) as cur:
            row = await cur.fetchone()
        total = int(row[0]) if row else 0
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM jobs {clause} ORDER BY creation_time DESC, job_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ) as cur:
            rows = await cur.fetchall()
        return [self._cache.get(r[0]) or _job(r) for r in rows], total

    async def untracked_among(self, job_ids: Iterable[str]) -> set[str]:
        """Which of these jobs a user untracked (and nobody tracked again since)."""
        ids = list(job_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with self._db.conn.execute(f"SELECT job_id FROM untracked WHERE job_id IN ({marks})", chunk) as cur:
                found.update(str(row[0]) for row in await cur.fetchall())
        return found

    async def delete(self, job_id: str) -> bool:
        """Forget a job and its history, for good: a tombstone keeps a later listing of the
        user's jobs from adopting it again (tracking it explicitly lifts it); returns whether it
        was tracked."""
        async with self._db.transaction() as conn:
            gone = (await self._stored(conn, [job_id])).get(job_id)
            await conn.execute(
                "INSERT OR REPLACE INTO untracked (job_id, untracked_at) VALUES (?, ?)", (job_id, time.time())
            )
            cur = await conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            deleted = cur.rowcount > 0
            await conn.execute("DELETE FROM artifacts WHERE job_id = ?", (job_id,))
            pending = [Pending(EventKind.UNTRACKED, gone, gone)] if deleted and gone is not None else []
            changes = await self.events.record(conn, pending)
        self._cache.pop(job_id, None)
        self.events.publish(changes)
        return deleted


def _pending(jobs: list[Job], before: dict[str, Job]) -> list[Pending]:
    """The feed's view of a save: new jobs appeared, stored ones changed (if anything did)."""
    pending: list[Pending] = []
    for job in jobs:
        old = before.get(job.job_id)
        if old is None:
            pending.append(Pending(EventKind.APPEARED, job))
        elif fields := changed_fields(old, job):
            pending.append(Pending(EventKind.CHANGED, job, old, fields))
        before[job.job_id] = job  # the same job twice in one save: the second compares to the first
    return pending
