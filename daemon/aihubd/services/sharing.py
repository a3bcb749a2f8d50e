"""Job sharing: read from the Hub every time (it can change elsewhere), validated like qai-hub."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InvalidArgument
from ..hub.api import HubApi
from ..store.jobs import JobStore
from .validation import check_job_id

__all__ = ["SharingService", "check_emails"]

_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;.]+$")
MAX_EMAILS = 100


def check_emails(emails: Sequence[str], what: str) -> list[str]:
    if len(emails) > MAX_EMAILS:
        raise InvalidArgument(f"too many {what} ({len(emails)}); at most {MAX_EMAILS} at once")
    for email in emails:
        if len(email) > 254 or not _EMAIL.match(email):
            raise InvalidArgument(f"{email[:80]!r} in {what} is not an email address")
    return list(emails)


class SharingService:
    def __init__(self, hub: HubApi, store: JobStore | None = None) -> None:
        self._hub = hub
        self._store = store  # a change made here is a CHANGED event ("sharing") in the feed

    async def _changed(self, job_id: str) -> None:
        if self._store is not None:
            await self._store.touch(job_id, "sharing")

    async def get(self, job_id: str) -> list[str]:
        return await self._hub.get_sharing(check_job_id(job_id))

    async def modify(self, job_id: str, add: Sequence[str], delete: Sequence[str]) -> list[str]:
        check_job_id(job_id)
        if not add and not delete:
            raise InvalidArgument("give at least one email to add or to delete")
        await self._hub.modify_sharing(job_id, check_emails(add, "add_emails"), check_emails(delete, "delete_emails"))
        await self._changed(job_id)
        return await self._hub.get_sharing(job_id)

    async def disable(self, job_id: str) -> list[str]:
        await self._hub.disable_sharing(check_job_id(job_id))
        await self._changed(job_id)
        return await self._hub.get_sharing(job_id)
