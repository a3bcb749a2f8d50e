"""The request log: the shape of every request the emulator served, per client.

A shape is what the conformance test compares between the official client and the
daemon: the method, the route template (as in the counters), the query keys with
the values of flag-like keys (``true``/``false``, any case; other values are
``"*"``) and the header names (lower case). ``client`` is the email of the user
whose token the request carried, or for a blob URL the user it was signed for (""
when neither is known). ``/_emulator/`` requests are not logged. Thread-safe; the
oldest entries are dropped beyond ``limit``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RequestLog", "RequestShape", "query_shape"]

_FLAG_VALUES = frozenset({"true", "false"})


def query_shape(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query keys -> the value for flag-like values, ``"*"`` for any other."""
    return {key: (value if value.lower() in _FLAG_VALUES else "*") for key, value in items}


@dataclass(frozen=True)
class RequestShape:
    """One logged request."""

    client: str
    method: str
    path: str
    query: dict[str, str]
    headers: list[str]
    status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A bounded, thread-safe list of `RequestShape`s."""

    def __init__(self, limit: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestShape] = deque(maxlen=limit)

    def add(
        self,
        client: str,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
        status: int,
    ) -> None:
        shape = RequestShape(client, method, path, query_shape(query), sorted({h.lower() for h in headers}), status)
        with self._lock:
            self._entries.append(shape)

    def entries(self, client: str | None = None) -> list[RequestShape]:
        """Every logged request (of ``client`` only, when given), oldest first."""
        with self._lock:
            return [e for e in self._entries if client is None or e.client == client]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
