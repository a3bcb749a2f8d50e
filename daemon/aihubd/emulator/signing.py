"""Signed blob URLs, in the form of S3 Signature Version 2 query-string authentication.

Every blob URL the emulator hands out looks like the pre-signed S3 URLs the Hub has
handed out::

    http://127.0.0.1:PORT/blobs/<key>?AWSAccessKeyId=<id>&Expires=<epoch seconds>
        &Signature=<url-encoded base64 HMAC-SHA1>

As in S3 V2, the signature is an HMAC-SHA1, under a per-emulator secret, of::

    "<METHOD>\\n<Content-MD5>\\n<Content-Type>\\n<Expires>\\n/blobs/<key>"

The URLs are signed with empty Content-MD5 and Content-Type (what the official client
sends: no such headers), so a request that carries either header, or uses another
method than the one signed (HEAD on a GET URL included), no longer matches: 403
``SignatureDoesNotMatch``. An expired URL gets 403 ``AccessDenied`` "Request has
expired"; one without the three parameters 403 ``AccessDenied``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

__all__ = ["ACCESS_KEY_PARAM", "EXPIRES_PARAM", "SIGNATURE_PARAM", "Refusal", "UrlSigner"]

ACCESS_KEY_PARAM = "AWSAccessKeyId"
EXPIRES_PARAM = "Expires"
SIGNATURE_PARAM = "Signature"
ACCESS_KEY_ID = "AKIAEMULATORHUB00000"
_MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class Refusal:
    """Why a signed request is refused: S3's error code and message (always 403)."""

    code: str
    message: str


_MISSING = Refusal(
    "AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)
_EXPIRED = Refusal("AccessDenied", "Request has expired")
_MISMATCH = Refusal(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
)


class UrlSigner:
    """Creates and verifies signed blob URLs; remembers which client each was made for."""

    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._secret = secret
        self._ttl = max(1, int(ttl_seconds))
        self._clock = clock
        self._clients: dict[str, str] = {}

    def _mac(self, method: str, content_md5: str, content_type: str, expires: str, key: str) -> str:
        string_to_sign = f"{method.upper()}\n{content_md5}\n{content_type}\n{expires}\n/blobs/{key}"
        digest = hmac.new(self._secret, string_to_sign.encode("utf-8"), hashlib.sha1).digest()
        return base64.b64encode(digest).decode("ascii")

    def url(self, origin: str, method: str, key: str, client: str = "") -> str:
        """An absolute signed URL for ``method`` on blob ``key`` under ``origin``, signed for
        requests without Content-MD5 and Content-Type. ``client`` labels the request log."""
        expires = str(int(self._clock()) + self._ttl)
        signature = self._mac(method, "", "", expires, key)
        if client:
            if len(self._clients) >= _MAX_REMEMBERED:
                self._clients.clear()
            self._clients[signature] = client
        query = urlencode({ACCESS_KEY_PARAM: ACCESS_KEY_ID, EXPIRES_PARAM: expires, SIGNATURE_PARAM: signature})
        return f"{origin}/blobs/{quote(key)}?{query}"

    def client_of(self, query: Mapping[str, str]) -> str:
        """The client a URL was signed for ("" when unknown)."""
        return self._clients.get(query.get(SIGNATURE_PARAM, ""), "")

    def verify(self, method: str, key: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Refusal | None:
        """None when the request matches its signature and has not expired, else the refusal."""
        expires = query.get(EXPIRES_PARAM)
        signature = query.get(SIGNATURE_PARAM)
        if not expires or not signature or not query.get(ACCESS_KEY_PARAM):
            return _MISSING
        try:
            expires_at = int(expires)
        except ValueError:
            return _MISSING
        if self._clock() > expires_at:
            return _EXPIRED
        expected = self._mac(method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), expires, key)
        if not hmac.compare_digest(expected, signature):
            return _MISMATCH
        return None
