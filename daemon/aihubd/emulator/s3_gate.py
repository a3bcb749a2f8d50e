"""What S3 checks before moto sees a request: the credentials the emulator handed out.

moto itself accepts any well-formed signature. `CredentialGate` is a WSGI layer in front of it
that holds each handed-out credential to what the real Hub's STS credentials allow: one object,
with its session token, until it expires. Refusals carry S3's XML error body::

    unknown access key id          403 InvalidAccessKeyId
    missing or wrong session token 403 InvalidToken
    expired                        400 ExpiredToken  "The provided token has expired."
    any other bucket or key        403 AccessDenied  "Access Denied"

The emulator's own bookkeeping key passes. Signatures are not recomputed (moto does not either).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

__all__ = ["CredentialGate", "Grant"]

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Grant:
    """What one handed-out credential may touch, and until when (the emulator's clock)."""

    bucket: str
    key: str
    session_token: str
    expires_at: float


def _xml(start_response: Callable[..., Any], status: str, code: str, message: str) -> Iterable[bytes]:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))])
    return [data]


def _access_key_id(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if match is not None:
        return match.group(1)
    # A presigned request: X-Amz-Credential=AKID/date/region/s3/aws4_request in the query.
    (credential,) = parse_qs(str(environ.get("QUERY_STRING", ""))).get("X-Amz-Credential", [""])[:1] or [""]
    return credential.partition("/")[0]


def _object_of(environ: dict[str, Any], bucket: str) -> tuple[str, str]:
    """(bucket, key) a request addresses, path style or virtual-host style."""
    path = str(environ.get("PATH_INFO", ""))
    host = str(environ.get("HTTP_HOST", "")).partition(":")[0]
    if host.startswith(bucket + "."):
        return bucket, path.removeprefix("/")
    found_bucket, _, key = path.removeprefix("/").partition("/")
    return found_bucket, key


class CredentialGate:
    """WSGI middleware: only granted (or admin) credentials reach ``app``."""

    def __init__(self, app: WsgiApp, admin_key_id: str, clock: Callable[[], float]) -> None:
        self._app = app
        self._admin = admin_key_id
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, list[Grant]] = {}

    def grant(self, access_key_id: str, grant: Grant) -> None:
        with self._lock:
            self._grants[access_key_id] = [grant]

    def alias(self, access_key_id: str, session_token: str, like: str) -> bool:
        """Let ``access_key_id``/``session_token`` do what the credential ``like`` may (for tests
        that swap the handed-out credentials for canaries; one canary may stand in for several);
        False when ``like`` is unknown."""
        with self._lock:
            originals = self._grants.get(like)
            if not originals:
                return False
            stand_in = [Grant(g.bucket, g.key, session_token, g.expires_at) for g in originals]
            self._grants.setdefault(access_key_id, []).extend(stand_in)
            return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key_id = _access_key_id(environ)
        if key_id == self._admin:
            return self._app(environ, start_response)
        with self._lock:
            grants = list(self._grants.get(key_id, ()))
        if not grants:
            return _xml(
                start_response,
                "403 Forbidden",
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        token = (
            environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
            or parse_qs(str(environ.get("QUERY_STRING", ""))).get("X-Amz-Security-Token", [""])[0]
        )
        grants = [g for g in grants if g.session_token == token]
        if not grants:
            return _xml(
                start_response, "403 Forbidden", "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
        now = self._clock()
        grants = [g for g in grants if now < g.expires_at]
        if not grants:
            return _xml(start_response, "400 Bad Request", "ExpiredToken", "The provided token has expired.")
        if not any(_object_of(environ, g.bucket) == (g.bucket, g.key) for g in grants):
            return _xml(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
        return self._app(environ, start_response)
