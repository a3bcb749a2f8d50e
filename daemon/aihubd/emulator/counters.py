"""Request counters, keyed by ``"<METHOD> <route template>"``.

Templates are aiohttp's canonical resource paths, e.g. ``GET /api/v1/jobs/{job_id}/``,
``GET /blobs/{blob_key}``; requests that match no route count as
``"<METHOD> <unmatched>"``. ``/_emulator/`` requests are never counted. A second
table counts ``GET /api/v1/jobs/{job_id}/`` per job id, a third the injected
faults per kind (see ``faults``; faulted requests are counted in the first table
too). Thread-safe, so an ``EmulatorThread`` owner may read them from another thread.
"""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["UNMATCHED", "Counters"]

UNMATCHED = "<unmatched>"


class Counters:
    """Per-endpoint and per-job request counts, and injected faults per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: Counter[str] = Counter()
        self._job_gets: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def hit(self, key: str, job_id: str | None = None) -> None:
        with self._lock:
            self._endpoints[key] += 1
            if job_id is not None:
                self._job_gets[job_id] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def faults(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    def endpoints(self) -> dict[str, int]:
        with self._lock:
            return dict(self._endpoints)

    def job_gets(self) -> dict[str, int]:
        with self._lock:
            return dict(self._job_gets)

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._job_gets.clear()
            self._faults.clear()
