"""`aihubctl daemon check`: the full check of the daemon's own state, on demand."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.database import Database
from .blob_audit import BlobAudit

__all__ = ["CheckReport", "DaemonCheck"]


@dataclass(frozen=True)
class CheckReport:
    database_problems: list[str]
    blobs_checked: int
    blobs_dropped: int


class DaemonCheck:
    def __init__(self, db: Database, audit: BlobAudit) -> None:
        self._db = db
        self._audit = audit

    async def check(self) -> CheckReport:
        """``PRAGMA integrity_check`` of the database, then every cached blob hashed (bad ones dropped)."""
        problems = await self._db.integrity_problems()
        audited = await self._audit.audit()
        return CheckReport(problems, audited.checked, audited.dropped)
