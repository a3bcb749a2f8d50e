"""The store's revision counter and its history of job changes (the feed's source).

Every change to a job takes the next revision of one counter for the whole store, and is written
to ``job_events`` in the same transaction as the change itself, so a revision names exactly one
committed state of the store. The history is compacted to the last ``keep`` revisions: a reader
asking for changes after a revision older than that must list again. After each commit the new
events go to the listeners (the feed), synchronously and in revision order.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from ..model import ArtifactType, Device, Job, JobState, ModelRef
from .database import Database

__all__ = ["DEFAULT_KEEP", "EventKind", "EventLog", "JobChange", "changed_fields", "decode_job", "encode_job"]

log = logging.getLogger(__name__)

DEFAULT_KEEP = 10_000

# The fields a change event names when they differ (refreshed_at is the daemon's, not the job's).
_WATCHED_FIELDS = (
    "name",
    "state",
    "message",
    "last_updated_time",
    "target_model_id",
    "available_artifacts",
    "device",
    "models",
    "options",
    "project_id",
)


class EventKind(enum.IntEnum):
    """Values equal the wire enum ``aihubd.v1.JobEventKind``."""

    APPEARED = 3
    CHANGED = 4
    UNTRACKED = 5


@dataclass(frozen=True)
class JobChange:
    """One committed change: the job after it (before it, for UNTRACKED), and what it was before."""

    revision: int
    kind: EventKind
    job: Job
    changed: tuple[str, ...] = ()
    previous_state: JobState | None = None
    previous_name: str | None = None


Listener = Callable[[Sequence[JobChange]], None]


def changed_fields(old: Job, new: Job) -> tuple[str, ...]:
    """The watched fields whose values differ between two views of one job."""
    return tuple(f for f in _WATCHED_FIELDS if getattr(old, f) != getattr(new, f))


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def encode_job(job: Job) -> str:
    """A job as JSON, independent of the jobs table's layout."""
    return json.dumps(
        {
            "id": job.job_id,
            "name": job.name,
            "state": int(job.state),
            "message": job.message,
            "created": job.creation_time.timestamp(),
            "updated": _ts(job.last_updated_time),
            "device": [job.device.name, job.device.os, list(job.device.attributes)],
            "models": [[m.model_id, m.name] for m in job.models],
            "options": job.options,
            "project": job.project_id,
            "target": job.target_model_id,
            "artifacts": [int(a) for a in job.available_artifacts],
            "refreshed": _ts(job.refreshed_at),
        },
        separators=(",", ":"),
    )


def decode_job(text: str) -> Job:
    data: dict[str, Any] = json.loads(text)
    name, os_, attributes = data["device"]
    return Job(
        job_id=data["id"],
        name=data["name"],
        state=JobState.of(data["state"]),
        message=data["message"],
        creation_time=_dt(data["created"]) or datetime.fromtimestamp(0, tz=UTC),
        last_updated_time=_dt(data["updated"]),
        device=Device(name, os_, tuple(attributes)),
        models=tuple(ModelRef(m, n) for m, n in data["models"]),
        options=data["options"],
        project_id=data["project"],
        target_model_id=data["target"],
        available_artifacts=tuple(ArtifactType(a) for a in data["artifacts"]),
        refreshed_at=_dt(data["refreshed"]),
    )


@dataclass(frozen=True)
class Pending:
    """A change to record: what happened to which job, and the job's view before it (if any)."""

    kind: EventKind
    job: Job
    before: Job | None = None
    changed: tuple[str, ...] = ()


class EventLog:
    """Writes events inside the caller's transaction; reads them back; tells listeners after commit."""

    def __init__(self, db: Database, *, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise ValueError("the feed must keep at least one revision of history")
        self._db = db
        self.keep = keep
        self._listeners: list[Listener] = []
        self._store_id: str | None = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def record(self, conn: aiosqlite.Connection, pending: Sequence[Pending]) -> list[JobChange]:
        """Give each change the next revision and write it; call inside the change's transaction."""
        if not pending:
            return []
        current, compacted = await self.revisions_in(conn)
        now = datetime.now(UTC).timestamp()
        changes = [
            JobChange(
                revision=current + i,
                kind=p.kind,
                job=p.job,
                changed=p.changed,
                previous_state=p.before.state if p.before is not None else None,
                previous_name=p.before.name if p.before is not None else None,
            )
            for i, p in enumerate(pending, start=1)
        ]
        await conn.executemany(
            "INSERT INTO job_events (revision, job_id, kind, job, changed, previous_state, previous_name, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.revision,
                    c.job.job_id,
                    int(c.kind),
                    encode_job(c.job),
                    ",".join(c.changed),
                    int(c.previous_state) if c.previous_state is not None else None,
                    c.previous_name,
                    now,
                )
                for c in changes
            ],
        )
        latest = changes[-1].revision
        floor = max(compacted, latest - self.keep)
        if floor > compacted:
            await conn.execute("DELETE FROM job_events WHERE revision <= ?", (floor,))
        await conn.execute("UPDATE store_revision SET revision = ?, compacted = ? WHERE id = 1", (latest, floor))
        return changes

    def publish(self, changes: Sequence[JobChange]) -> None:
        """Hand committed changes to the listeners (no await: nothing can interleave)."""
        if not changes:
            return
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:  # one broken listener must not undo a committed write
                log.exception("a feed listener failed")

    async def store_id(self) -> str:
        """This database's random id: revisions of another store mean nothing here."""
        if self._store_id is None:
            async with self._db.conn.execute("SELECT store_id FROM store_revision WHERE id = 1") as cur:
                row = await cur.fetchone()
            assert row is not None, "migration 6 creates the store_revision row"
            self._store_id = str(row[0])
        return self._store_id

    async def revisions(self) -> tuple[int, int]:
        """(the current revision, the newest compacted one), as committed."""
        return await asyncio.shield(self._revisions())

    async def _revisions(self) -> tuple[int, int]:
        async with self._db.transaction() as conn:
            return await self.revisions_in(conn)

    async def read_after(self, revision: int) -> tuple[list[JobChange], int, int]:
        """The changes after ``revision`` in order, with the current and compacted revisions,
        read in one transaction (so nothing uncommitted is seen). Shielded, like every read a
        cancelled stream could otherwise leave inside its transaction."""
        return await asyncio.shield(self._read_after(revision))

    async def _read_after(self, revision: int) -> tuple[list[JobChange], int, int]:
        async with self._db.transaction() as conn:
            current, compacted = await self.revisions_in(conn)
            async with conn.execute(
                "SELECT revision, kind, job, changed, previous_state, previous_name FROM job_events "
                "WHERE revision > ? ORDER BY revision",
                (revision,),
            ) as cur:
                rows = await cur.fetchall()
        return [_change(row) for row in rows], current, compacted

    @staticmethod
    async def revisions_in(conn: aiosqlite.Connection) -> tuple[int, int]:
        """(current, compacted) as seen by ``conn``'s open transaction."""
        async with conn.execute("SELECT revision, compacted FROM store_revision WHERE id = 1") as cur:
            row = await cur.fetchone()
        assert row is not None, "migration 6 creates the store_revision row"
        return int(row[0]), int(row[1])


def _change(row: Sequence[Any]) -> JobChange:
    revision, kind, job, changed, previous_state, previous_name = row
    return JobChange(
        revision=int(revision),
        kind=EventKind(kind),
        job=decode_job(job),
        changed=tuple(f for f in str(changed).split(",") if f),
        previous_state=JobState.of(previous_state) if previous_state is not None else None,
        previous_name=previous_name,
    )
