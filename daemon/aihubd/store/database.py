"""One aiosqlite connection in WAL mode, with numbered migrations (PRAGMA user_version)."""

from __future__ import annotations

import logging
from pathlib import Path

import aiosqlite

__all__ = ["Database"]

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
)


class Database:
    """Owns the single writer connection. Open with ``await Database.open(path)``."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = cls(conn, path)
        await db._migrate()
        return db

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("migrating database %s to version %d", self.path, number)
            await self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    async def integrity_ok(self) -> bool:
        async with self.conn.execute("PRAGMA integrity_check") as cur:
            row = await cur.fetchone()
        return bool(row and row[0] == "ok")

    async def close(self) -> None:
        await self.conn.close()
