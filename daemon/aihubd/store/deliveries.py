"""The delivery journal: temp files being written beside a destination, so a crash leaves none.

A delivery writes a hidden temp file beside its destination and renames it into place
(``BlobStore.deliver``). Its path is committed here durably *before* the file is created, and
cleared once the file was renamed or removed. ``reconcile`` at start-up removes each listed path
that still is such a temp file and forgets every row; it never looks at any other file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ..errors import ResourceExhausted
from .blobs import TEMP_PREFIX
from .database import Database

__all__ = ["DeliveryJournal"]

log = logging.getLogger(__name__)


class DeliveryJournal:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def pending(self, temp: Path) -> AsyncIterator[Path]:
        """Journal ``temp`` for the duration of one delivery through it."""
        await self.record(temp)
        try:
            yield temp
        finally:
            await self.clear(temp)

    async def record(self, temp: Path) -> None:
        """Durably note that ``temp`` is about to be created."""

        async def write() -> None:
            async with self._db.transaction(durable=True) as conn:
                await conn.execute(
                    "INSERT OR REPLACE INTO pending_deliveries (temp_path, started_at) VALUES (?, ?)",
                    (os.fsencode(temp), time.time()),
                )

        await asyncio.shield(write())  # a full disk is ResourceExhausted (Database.transaction)

    async def clear(self, temp: Path) -> None:
        """Forget ``temp`` (renamed into place or removed). Not durable, and a failure is only
        logged: a row that outlives its file just makes ``reconcile`` find nothing there."""

        async def write() -> None:
            async with self._db.transaction() as conn:
                await conn.execute("DELETE FROM pending_deliveries WHERE temp_path = ?", (os.fsencode(temp),))

        try:
            await asyncio.shield(write())
        except (sqlite3.Error, ResourceExhausted) as exc:
            log.warning("could not clear the delivery journal entry for %s: %s", temp, exc)

    async def pending_paths(self) -> list[Path]:
        async with self._db.conn.execute("SELECT temp_path FROM pending_deliveries") as cur:
            return [Path(os.fsdecode(bytes(row[0]))) for row in await cur.fetchall()]

    async def reconcile(self) -> int:
        """At start-up: remove the temp files deliveries cut short by a crash; returns how many.
        A path that cannot be checked now (e.g. permission denied) keeps its row for the next start."""
        removed = 0
        settled: list[bytes] = []
        for path in await self.pending_paths():
            try:
                if _remove_leftover(path):
                    removed += 1
            except OSError as exc:
                log.warning("cannot remove %s, left by a delivery cut short: %s", path, exc.strerror)
                continue
            settled.append(os.fsencode(path))
        if settled:
            async with self._db.transaction() as conn:
                await conn.executemany("DELETE FROM pending_deliveries WHERE temp_path = ?", [(p,) for p in settled])
        return removed


def _remove_leftover(path: Path) -> bool:
    """Unlink ``path`` only if it still is a delivery temp file: an absolute path whose name has
    the temp prefix, naming a regular file (a symlink or anything else is left alone)."""
    if not (path.is_absolute() and path.name.startswith(TEMP_PREFIX)):
        return False
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False  # the directory is gone, and the temp file with it
    try:  # checked and unlinked relative to one directory handle
        if not stat.S_ISREG(os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return False
        os.unlink(path.name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False  # renamed into place (or removed) before the crash
    finally:
        os.close(dir_fd)
