"""One aiosqlite connection in WAL mode, with numbered migrations (PRAGMA user_version)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from ..errors import AihubdError, ResourceExhausted

__all__ = ["Database", "DatabaseUnusable"]

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs and their observed state history
    """
    CREATE TABLE jobs (
        job_id            TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        state             INTEGER NOT NULL,
        message           TEXT NOT NULL DEFAULT '',
        creation_time     REAL NOT NULL,
        last_updated_time REAL,
        device            TEXT NOT NULL,
        models            TEXT NOT NULL,
        options           TEXT NOT NULL DEFAULT '',
        project_id        TEXT NOT NULL DEFAULT '',
        target_model_id   TEXT NOT NULL DEFAULT '',
        artifacts         TEXT NOT NULL DEFAULT '',
        refreshed_at      REAL,
        terminal          INTEGER NOT NULL
    );
    CREATE INDEX jobs_in_flight ON jobs(job_id) WHERE terminal = 0;
    CREATE TABLE job_history (
        job_id      TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
        state       INTEGER NOT NULL,
        message     TEXT NOT NULL DEFAULT '',
        observed_at REAL NOT NULL
    );
    CREATE INDEX job_history_by_job ON job_history(job_id, observed_at);
    """,
    # 2: the artifact cache index and the uploads already made
    """
    CREATE TABLE blobs (
        digest    TEXT PRIMARY KEY,
        size      INTEGER NOT NULL,
        last_used REAL NOT NULL,
        pinned    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE artifacts (
        job_id   TEXT NOT NULL,
        kind     INTEGER NOT NULL,
        filename TEXT NOT NULL,
        digest   TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
        PRIMARY KEY (job_id, kind, filename)
    );
    CREATE INDEX artifacts_by_digest ON artifacts(digest);
    CREATE INDEX blobs_lru ON blobs(last_used) WHERE pinned = 0;
    CREATE TABLE uploads (
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        project_id  TEXT NOT NULL DEFAULT '',
        model_id    TEXT NOT NULL,
        uploaded_at REAL NOT NULL,
        PRIMARY KEY (sha256, size, project_id)
    );
    """,
    # 3: submissions by client request id, so a retried submit never creates a second Hub job
    """
    CREATE TABLE submissions (
        request_id  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        started_at  REAL NOT NULL,
        job_id      TEXT
    );
    """,
    # 4: delivery temp files being written beside their destinations (raw path bytes), recorded
    #    before each is created so a start-up after a crash can remove what was left behind
    """
    CREATE TABLE pending_deliveries (
        temp_path  BLOB PRIMARY KEY,
        started_at REAL NOT NULL
    );
    """,
    # 5: each blob's modification time when cached, so a blob changed on disk (an edited hardlinked
    #    delivery shares its inode) is noticed and fetched again instead of delivered
    """
    ALTER TABLE blobs ADD COLUMN mtime_ns INTEGER;
    """,
    # 6: one revision counter for the whole store and the history of job changes (the feed),
    #    written in the transaction of each change; revisions at or below `compacted` are gone;
    #    `store_id` tells one database's revisions from another's
    """
    CREATE TABLE store_revision (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        revision  INTEGER NOT NULL,
        compacted INTEGER NOT NULL,
        store_id  TEXT NOT NULL
    );
    INSERT INTO store_revision (id, revision, compacted, store_id) VALUES (1, 0, 0, lower(hex(randomblob(8))));
    CREATE TABLE job_events (
        revision       INTEGER PRIMARY KEY,
        job_id         TEXT NOT NULL,
        kind           INTEGER NOT NULL,
        job            TEXT NOT NULL,
        changed        TEXT NOT NULL DEFAULT '',
        previous_state INTEGER,
        previous_name  TEXT,
        recorded_at    REAL NOT NULL
    );
    """,
    # 7: jobs a user untracked: a later Hub listing of their jobs must not adopt them again
    """
    CREATE TABLE untracked (
        job_id       TEXT PRIMARY KEY,
        untracked_at REAL NOT NULL
    );
    """,
    # 8: the Hub's own time (from its Date headers) before a submission's create, so recovering a
    #    lost create is bounded by the Hub's clock, never the daemon's
    """
    ALTER TABLE submissions ADD COLUMN hub_floor REAL;
    """,
)


SCHEMA_VERSION = len(MIGRATIONS)

# What the person starting the daemon can do about a database that cannot be used.
MOVE_ASIDE = (
    "move it aside (e.g. `mv {path} {path}.broken`) and start again: the daemon creates a fresh database; "
    "the Hub keeps every job (`aihubctl track JOB_ID` follows one again) and the cache refills from the Hub"
)
_DAMAGED = {"SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_FORMAT"}
LOW_SPACE = 1 << 20
BUSY_TIMEOUT_MS = 5000  # how long a write waits for a lock another process holds


class DatabaseUnusable(AihubdError):
    """The database cannot be opened, read, written or trusted; the message says what to do."""


def _out_of_space(directory: Path) -> bool:
    """Less than ``LOW_SPACE`` free there: SQLite then fails to grow its files, often as a mere
    "disk I/O error" (the shared-memory file of WAL mode), which would point the wrong way."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < LOW_SPACE


def _unusable(path: Path, exc: sqlite3.Error | OSError) -> DatabaseUnusable:
    detail = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or getattr(exc, "errno", None) == errno.ENOSPC or _out_of_space(path.parent):
        return DatabaseUnusable(
            f"no space left for the database {path} ({detail}): the filesystem holding {path.parent} is full; "
            "free some space there and start again"
        )
    if name in _DAMAGED or "not a database" in detail or "malformed" in detail:
        return DatabaseUnusable(f"the database {path} is damaged ({detail}); {MOVE_ASIDE.format(path=path)}")
    if name == "SQLITE_BUSY" or "locked" in detail:
        return DatabaseUnusable(
            f"the database {path} is locked by another process ({detail}); close whatever holds it and start again"
        )
    return DatabaseUnusable(
        f"cannot open the database {path} ({detail}); make {path.parent} and the files in it writable by you "
        f"(uid {os.getuid()}) on a filesystem that is not read-only"
    )


class Database:
    """Owns the single writer connection. Open with ``await Database.open(path)``."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()  # one transaction at a time on the shared connection

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error. ``durable`` commits with
        ``synchronous=FULL``: for records the Hub cannot rebuild. Callers should shield it from
        cancellation: a cancelled await does not stop SQLite, it only loses track of it. A full
        disk (``SQLITE_FULL``) is ``ResourceExhausted`` naming the database, never an internal error;
        so is a write lock another process holds past the busy timeout (``SQLITE_BUSY``)."""
        async with self._write_lock:
            if durable:
                await self.conn.execute("PRAGMA synchronous=FULL")
            try:
                try:
                    await self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise ResourceExhausted(
                            f"the daemon's database {self.path} is locked by another process (waited "
                            f"{BUSY_TIMEOUT_MS / 1000:.0f} s); try again, and if it lasts, stop what holds it open"
                        ) from None
                    raise
                try:
                    yield self.conn
                    await self.conn.execute("COMMIT")
                except BaseException as exc:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                        raise ResourceExhausted(
                            f"no space left for the daemon's database {self.path}; free some space on that filesystem"
                        ) from None
                    raise
            finally:
                if durable:
                    await self.conn.execute("PRAGMA synchronous=NORMAL")

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating if new), refuse a schema newer than this code, ``PRAGMA quick_check``,
        migrate. Any failure is a ``DatabaseUnusable`` saying what to do, with the connection
        closed (an open aiosqlite connection is a thread that would keep the process alive)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise _unusable(path, exc) from None
        db = cls(conn, path)
        try:
            version = await db._user_version()  # the first read: a file that is no database fails here
            if version > SCHEMA_VERSION:
                raise DatabaseUnusable(
                    f"the database {path} has schema version {version}, newer than this aihubd knows "
                    f"({SCHEMA_VERSION}): a newer aihubd wrote it. Run that newer aihubd, or "
                    f"{MOVE_ASIDE.format(path=path)}"
                )
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            problems = await db._check("quick_check")
            if problems:
                raise DatabaseUnusable(
                    f"the database {path} is damaged (quick_check: {problems[0][:200]}); {MOVE_ASIDE.format(path=path)}"
                )
            await db._migrate(version)
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise _unusable(path, exc) from None
            raise
        return db

    async def _user_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self, version: int) -> None:
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("migrating database %s to version %d", self.path, number)
            await self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    async def _check(self, pragma: str) -> list[str]:
        """The problems ``PRAGMA quick_check`` / ``integrity_check`` reports; empty when sound."""
        async with self.conn.execute(f"PRAGMA {pragma}") as cur:
            rows = [str(row[0]) for row in await cur.fetchall()]
        return [] if rows == ["ok"] else rows

    async def integrity_problems(self) -> list[str]:
        """``PRAGMA integrity_check`` (the full check, reading every page): empty when sound.
        A database too damaged to run the check reports that as its problem."""
        try:
            return await self._check("integrity_check")
        except sqlite3.DatabaseError as exc:
            return [str(exc)]

    async def integrity_ok(self) -> bool:
        return not await self.integrity_problems()

    async def close(self) -> None:
        await self.conn.close()
