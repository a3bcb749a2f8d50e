"""A doorbell per job: waiters subscribe, the poller rings after writing the store.

Waiters never get data from the bell; they re-read the store. Subscribe *before* reading so no
change can slip between the read and the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["Notifier"]


class Notifier:
    def __init__(self) -> None:
        self._bells: dict[str, set[asyncio.Event]] = {}
        self.closed = False

    @contextmanager
    def subscribe(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``key`` is rung (or the notifier closes); unsubscribes on exit."""
        bell = asyncio.Event()
        if self.closed:
            bell.set()
        self._bells.setdefault(key, set()).add(bell)
        try:
            yield bell
        finally:
            bells = self._bells.get(key)
            if bells is not None:
                bells.discard(bell)
                if not bells:
                    del self._bells[key]

    def ring(self, keys: Iterable[str]) -> None:
        for key in keys:
            for bell in self._bells.get(key, ()):
                bell.set()

    def close(self) -> None:
        """Wake every waiter for good (shutdown)."""
        self.closed = True
        for bells in self._bells.values():
            for bell in bells:
                bell.set()
