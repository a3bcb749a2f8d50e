"""Fault injection: an emulated Hub in trouble.

`FaultConfig` (frozen) says which faults to inject; `FaultInjector` holds the
current config (replaceable at runtime), its seeded ``random.Random`` and the set
of revoked tokens, and decides per request. The aiohttp middleware that acts on
the decisions is ``middleware.inject_faults``; the responses that misbehave on
purpose (`CutResponse`, `CutFileResponse`, `DropResponse`) live here.

Kinds (`KINDS`):

* ``"500"``, ``"502"``, ``"503"``: that status, no ``Retry-After``; the handler
  does not run. API paths get a JSON ``{"detail": ...}`` body, blob paths an
  S3-style XML error.
* ``"426"``: Upgrade Required, as the Hub answers a client protocol it no longer
  supports (JSON ``{"detail": ...}`` on API paths).
* ``"429"`` and ``"503-retry-after"``: that status with ``Retry-After:
  <retry_after>`` (1 when ``retry_after`` is None); ``"429-no-retry-after"``
  without the header.
* ``"slow"``: wait ``slow_seconds`` first, then run the handler and answer normally.
* ``"reset-mid-body"``: the handler runs for real; the response's headers and the
  first half of its body are sent (for a blob GET, half of the bytes the normal
  answer would carry, so 206 answers to ``Range`` requests are cut too), then the
  connection is closed. A body of 0 or 1 byte means nothing at all is sent (an
  empty blob file is served normally and not counted). Not for HEAD requests or
  blob PUTs.
* ``"html-body"``, ``"chunked-cut"``, ``"short-body"``, ``"corrupt-body"`` (`BODY_KINDS`): blob
  GETs only; a 200 ``text/html`` page instead of the blob (as a proxy or portal answers), or a
  body that does not match what the reply states (see ``blob_replies``).
* ``"drop-after-create"``: only for the create endpoints (`CREATE_ROUTES`): the
  create is performed for real, then the connection is closed without any reply
  (only when the create succeeded; an error reply goes out as usual).

Eligibility: a request is eligible when its path starts with one of ``paths``
(never ``/_emulator/``) and, if ``only`` is not empty, it matches one of the
``only`` entries: ``"METHOD"``, ``"<route template>"`` or ``"METHOD <route
template>"``, templates as in the request counters, e.g. ``"GET
/api/v1/jobs/{job_id}/"``. ``down`` answers every eligible request with 503 (and
``Retry-After`` when ``retry_after`` is set). Otherwise, for an eligible request
with at least one applicable kind, one draw of the seeded generator decides
whether it gets a fault (probability ``rate``) and a second picks the kind among
the applicable ones (repeat a kind in ``kinds`` to weight it). Requests handled
one after the other therefore see a reproducible sequence for a given seed;
concurrent requests may draw in any order. The generator is re-seeded whenever
the config is replaced.

Revoked tokens (``revoke``/``restore``) are independent of the config: every
``/api/v1/`` request with a revoked token gets 401 ``Invalid token.``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from aiohttp import web

__all__ = [
    "BODY_KINDS",
    "CREATE_ROUTES",
    "CUT_KEY",
    "DEFAULT_PATHS",
    "DEFAULT_RETRY_AFTER",
    "DOWN",
    "KINDS",
    "REVOKED",
    "STATUS_KINDS",
    "CutFileResponse",
    "CutResponse",
    "DropResponse",
    "FaultConfig",
    "FaultDecision",
    "FaultInjector",
    "file_response",
]

ADMIN_PREFIX = "/_emulator/"
DEFAULT_PATHS: tuple[str, ...] = ("/api/v1/", "/blobs/")
DEFAULT_KINDS: tuple[str, ...] = ("500", "502", "503")
DEFAULT_RETRY_AFTER = 1

# kind -> (status, send Retry-After)
STATUS_KINDS: dict[str, tuple[int, bool]] = {
    "500": (500, False),
    "502": (502, False),
    "503": (503, False),
    "429": (429, True),
    "429-no-retry-after": (429, False),
    "503-retry-after": (503, True),
    "426": (426, False),
}
BODY_KINDS: tuple[str, ...] = ("html-body", "chunked-cut", "short-body", "corrupt-body")
KINDS: tuple[str, ...] = (*STATUS_KINDS, "slow", "reset-mid-body", "drop-after-create", *BODY_KINDS)
DOWN = "down"
REVOKED = "revoked-token"

CREATE_ROUTES = frozenset(
    {
        "POST /api/v1/jobs/",
        "POST /api/v1/projects/{project_id}/jobs/",
        "POST /api/v1/models/",
        "POST /api/v1/projects/{project_id}/models/",
    }
)

Sleep = Callable[[float], Awaitable[Any]]

# web.RequestKey exists from aiohttp 3.13 on; a plain string works (with a warning) before.
_RequestKey: Any = getattr(web, "RequestKey", None)
CUT_KEY: Any = _RequestKey("cut_fault", object) if _RequestKey else "aihubd.emulator.cut_fault"


# ------------------------------------------------------------------- config
def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"faults: {name} must be a list of strings")
    return tuple(value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"faults: {name} must be a number")
    if not math.isfinite(value):
        raise ValueError(f"faults: {name} must be finite")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"faults: {name} must be an integer")
    return int(value)


def _parse_only(entry: str) -> tuple[str | None, str | None]:
    """``"GET"`` / ``"/api/v1/devices/"`` / ``"GET /api/v1/devices/"`` -> (method, template)."""
    text = entry.strip()
    method, _, template = text.partition(" ")
    template = template.strip()
    if method.startswith("/") or method == "<unmatched>":
        method, template = "", text
    if method and not (method.isascii() and method.isalpha()):
        raise ValueError(f"faults: bad 'only' entry {entry!r}")
    if not method and not template:
        raise ValueError("faults: empty 'only' entry")
    return (method.upper() or None), (template or None)


@dataclass(frozen=True)
class FaultConfig:
    """Which faults the emulator injects. The default injects nothing.

    rate: fraction (0..1) of eligible requests that get one of ``kinds``.
    seed: seed of the ``random.Random`` that makes the choices.
    kinds: kinds to choose from (see `KINDS`); a kind not applicable to a request
        is never chosen for it.
    retry_after: seconds for ``Retry-After`` (integer); None: 1 for the kinds that
        always carry the header, and no header while ``down``.
    slow_seconds: the delay of ``"slow"``.
    paths: path prefixes of eligible requests (``/_emulator/`` never is).
    only: when not empty, only requests matching one of these entries are
        eligible: ``"METHOD"``, ``"<template>"`` or ``"METHOD <template>"``.
    down: every eligible request gets 503 until this is turned off.

    Lists (or comma-separated strings) given for ``kinds``, ``paths`` and ``only``
    are turned into tuples.
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    retry_after: int | None = None
    slow_seconds: float = 1.0
    paths: tuple[str, ...] = DEFAULT_PATHS
    only: tuple[str, ...] = ()
    down: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        rate = _number("rate", self.rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("faults: rate must be between 0 and 1")
        set_(self, "rate", rate)
        set_(self, "seed", _integer("seed", self.seed))
        kinds = _str_tuple("kinds", self.kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"faults: unknown kind(s) {unknown}; known: {list(KINDS)}")
        set_(self, "kinds", kinds)
        if self.retry_after is not None:
            retry_after = _integer("retry_after", self.retry_after)
            if retry_after < 0:
                raise ValueError("faults: retry_after must be >= 0")
            set_(self, "retry_after", retry_after)
        slow = _number("slow_seconds", self.slow_seconds)
        if slow < 0:
            raise ValueError("faults: slow_seconds must be >= 0")
        set_(self, "slow_seconds", slow)
        paths = _str_tuple("paths", self.paths)
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"faults: path prefix {path!r} must start with '/'")
        set_(self, "paths", paths)
        only = _str_tuple("only", self.only)
        for entry in only:
            _parse_only(entry)
        set_(self, "only", only)
        if not isinstance(self.down, bool):
            raise ValueError("faults: down must be true or false")

    @property
    def active(self) -> bool:
        """Whether this config can inject anything at all."""
        return self.down or (self.rate > 0 and bool(self.kinds))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of every field (tuples as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from a dict with any subset of the fields; ValueError on unknown keys
        or bad values. Missing fields take their defaults."""
        if not isinstance(data, Mapping):
            raise ValueError("faults: expected a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"faults: unknown field(s) {unknown}; known: {sorted(names)}")
        return cls(**dict(data))


# ------------------------------------------------------------------ decisions
@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request (a snapshot, immune to later config changes)."""

    kind: str
    status: int = 0
    retry_after: int | None = None
    slow_seconds: float = 0.0


def _applicable(kind: str, method: str, path: str, route: str) -> bool:
    if kind == "drop-after-create":
        return route in CREATE_ROUTES
    if kind == "reset-mid-body":
        return method != "HEAD" and not (path.startswith("/blobs/") and method != "GET")
    if kind in BODY_KINDS:
        return method == "GET" and path.startswith("/blobs/")
    return True


def _digest(token: str) -> str:
    # Like the state, keep tokens only as SHA-256 digests.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class FaultInjector:
    """The current `FaultConfig`, its random generator and the revoked tokens.

    Thread-safe: the config may be replaced from another thread (``EmulatorThread``).
    """

    def __init__(self, config: FaultConfig | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self._lock = threading.Lock()
        self.sleep = sleep
        self._revoked: set[str] = set()  # SHA-256 digests
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._only: list[tuple[str | None, str | None]] = []
        self.set_config(config if config is not None else FaultConfig())

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def set_config(self, config: FaultConfig) -> None:
        """Replace the config and re-seed the generator."""
        if not isinstance(config, FaultConfig):
            raise TypeError("set_faults needs a FaultConfig")
        only = [_parse_only(entry) for entry in config.only]
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._only = only

    def _eligible(self, method: str, path: str, template: str) -> bool:
        config = self._config
        if path.startswith(ADMIN_PREFIX):
            return False
        if not any(path.startswith(prefix) for prefix in config.paths):
            return False
        if not self._only:
            return True
        return any((m is None or m == method) and (t is None or t == template) for m, t in self._only)

    def decide(self, method: str, path: str, template: str) -> FaultDecision | None:
        """The fault for one request (``template`` as in the counters), or None."""
        with self._lock:
            config = self._config
            if not config.active or not self._eligible(method, path, template):
                return None
            if config.down:
                return FaultDecision(DOWN, 503, config.retry_after)
            route = f"{method} {template}"
            kinds = [k for k in config.kinds if _applicable(k, method, path, route)]
            if not kinds or self._rng.random() >= config.rate:
                return None
            kind = self._rng.choice(kinds)
        if kind in STATUS_KINDS:
            status, with_header = STATUS_KINDS[kind]
            retry_after = None
            if with_header:
                retry_after = DEFAULT_RETRY_AFTER if config.retry_after is None else config.retry_after
            return FaultDecision(kind, status, retry_after)
        return FaultDecision(kind, slow_seconds=config.slow_seconds)

    # --------------------------------------------------------------- tokens
    def revoke(self, token: str) -> None:
        """From now on, ``token`` gets 401 on every API request."""
        if not token:
            raise ValueError("an empty token cannot be revoked")
        with self._lock:
            self._revoked.add(_digest(token))

    def restore(self, token: str) -> bool:
        """Undo ``revoke``; True if the token was revoked."""
        with self._lock:
            digest = _digest(token)
            if digest in self._revoked:
                self._revoked.discard(digest)
                return True
            return False

    def is_revoked(self, token: str) -> bool:
        with self._lock:
            return _digest(token) in self._revoked

    def revoked_count(self) -> int:
        with self._lock:
            return len(self._revoked)


# ------------------------------------------------------ misbehaving replies
def _hang_up(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()  # what was written is still flushed, then FIN


class DropResponse(web.StreamResponse):
    """Closes the connection without sending anything."""

    def __init__(self, record: Callable[[], None] | None = None) -> None:
        super().__init__(status=200)
        self._record = record

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self._record is not None:
            self._record()
        _hang_up(request)
        # aiohttp treats a ConnectionError from prepare() as a vanished client.
        raise ConnectionResetError("fault injected: connection dropped")


class CutResponse(web.StreamResponse):
    """Sends ``original``'s status, headers and the first half of its body, then
    closes the connection."""

    def __init__(self, original: web.Response, record: Callable[[], None] | None = None) -> None:
        headers = {
            k: v for k, v in original.headers.items() if k.lower() not in ("content-length", "transfer-encoding")
        }
        super().__init__(status=original.status, reason=original.reason, headers=headers)
        body = original.body
        assert isinstance(body, (bytes, bytearray))
        self._body_bytes = bytes(body)
        self.content_length = len(self._body_bytes)
        self._record = record

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self._record is not None:
            self._record()
        cut = len(self._body_bytes) // 2
        if cut:
            writer = await super().prepare(request)
            assert writer is not None
            await writer.write(self._body_bytes[:cut])
        _hang_up(request)
        raise ConnectionResetError("fault injected: connection closed mid-body")


def _read_at(fobj: IO[bytes], offset: int, size: int) -> bytes:
    fobj.seek(offset)
    return fobj.read(size)


class CutFileResponse(web.FileResponse):
    """A ``FileResponse`` (same status, headers and Range handling) that sends only
    the first half of the bytes it would send, then closes the connection.

    Hooks into ``FileResponse._sendfile``, the step that sends the body after the
    headers and the range have been worked out.
    """

    def __init__(
        self,
        path: Path,
        record: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(path, headers=headers)
        self._record = record

    async def _sendfile(self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int) -> Any:
        if self._record is not None:
            self._record()
        cut = count // 2
        if cut:
            writer = await web.StreamResponse.prepare(self, request)
            assert writer is not None
            data = await asyncio.get_running_loop().run_in_executor(None, _read_at, fobj, offset, cut)
            await writer.write(data)
        _hang_up(request)
        raise ConnectionResetError("fault injected: connection closed mid-body")


def file_response(request: web.Request, path: Path, headers: dict[str, str] | None = None) -> web.FileResponse:
    """The blob handlers' file reply: a `CutFileResponse` when the fault layer marked
    this request for ``"reset-mid-body"``, a plain ``FileResponse`` otherwise."""
    record = request.get(CUT_KEY)
    if record is not None:
        return CutFileResponse(path, record, headers=headers)
    return web.FileResponse(path, headers=headers)
