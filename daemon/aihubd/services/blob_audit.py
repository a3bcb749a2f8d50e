"""The cache's scheduled digest check: every cached blob is hashed again now and then.

The request path only hashes a blob whose inode changed since it was last known good
(``BlobStore.needs_verify``); silent damage that leaves the inode alone (a bad disk, a bit flip)
is found here. A blob that no longer matches its digest is dropped from the index and the disk,
so the next request fetches it from the Hub again instead of delivering it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..store.artifacts import ArtifactIndex
from ..store.blobs import BlobStore, Digest
from ..threads import finish_in_thread

__all__ = ["AuditResult", "BlobAudit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditResult:
    checked: int
    dropped: int


class BlobAudit:
    def __init__(
        self,
        index: ArtifactIndex,
        blobs: BlobStore,
        *,
        interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._index = index
        self._blobs = blobs
        self._interval = interval
        self._sleep = sleep
        self._lock = asyncio.Lock()  # one audit at a time (schedule and `aihubctl daemon check`)

    async def run(self) -> None:
        """Audit every ``interval`` seconds, forever (cancel to stop); a failed round is logged."""
        while True:
            await self._sleep(self._interval)
            try:
                await self.audit()
            except Exception as exc:  # the next round tries again; requests keep their own check
                log.warning("scheduled check of the artifact cache failed: %s", exc)

    async def audit(self) -> AuditResult:
        """Hash every indexed blob that is on disk; drop those that do not match."""
        async with self._lock:
            indexed = await self._index.indexed_blobs()
            checked, bad = 0, []
            for hex_digest, size in indexed.items():
                digest = Digest(hex_digest, size)
                if not self._blobs.has_hex(hex_digest):
                    continue  # missing: the next request fetches it again
                checked += 1
                if not await finish_in_thread(self._blobs.verify, digest):
                    bad.append(hex_digest)
            if bad:
                await self._index.forget_blobs(bad)
                for hex_digest in bad:
                    self._blobs.remove(hex_digest)
                log.warning(
                    "artifact cache check: %d of %d blobs did not match their digest; dropped", len(bad), checked
                )
            else:
                log.info("artifact cache check: %d blobs, all match their digests", checked)
            return AuditResult(checked=checked, dropped=len(bad))
