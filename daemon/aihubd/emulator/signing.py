"""Signed blob URLs.

Every blob URL the emulator hands out looks like a pre-signed S3 URL::

    http://127.0.0.1:PORT/blobs/<key>?X-Amz-Date=20250101T120000Z&X-Amz-Expires=3600
        &X-Amz-Signature=<hex hmac-sha256>

The signature is an HMAC-SHA256, under a per-emulator secret, of
``"<METHOD>\\n/blobs/<key>\\n<X-Amz-Date>\\n<X-Amz-Expires>"``. HEAD is checked as
GET. A missing, malformed, wrong or expired signature is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

__all__ = ["SIGNATURE_PARAM", "UrlSigner"]

SIGNATURE_PARAM = "X-Amz-Signature"
DATE_PARAM = "X-Amz-Date"
EXPIRES_PARAM = "X-Amz-Expires"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class UrlSigner:
    """Creates and verifies signed blob URLs."""

    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._secret = secret
        self._ttl = max(1, int(ttl_seconds))
        self._clock = clock

    def _mac(self, method: str, key: str, date: str, expires: str) -> str:
        message = f"{_canonical_method(method)}\n/blobs/{key}\n{date}\n{expires}"
        return hmac.new(self._secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def url(self, origin: str, method: str, key: str) -> str:
        """An absolute signed URL for ``method`` on blob ``key`` under ``origin``."""
        now = datetime.fromtimestamp(int(self._clock()), tz=UTC)
        date = now.strftime(_DATE_FORMAT)
        expires = str(self._ttl)
        query = urlencode(
            {
                DATE_PARAM: date,
                EXPIRES_PARAM: expires,
                SIGNATURE_PARAM: self._mac(method, key, date, expires),
            }
        )
        return f"{origin}/blobs/{quote(key)}?{query}"

    def verify(self, method: str, key: str, query: Mapping[str, str]) -> str | None:
        """None when the signature is valid, else the reason it is refused."""
        date = query.get(DATE_PARAM)
        expires = query.get(EXPIRES_PARAM)
        signature = query.get(SIGNATURE_PARAM)
        if not date or not expires or not signature:
            return "Missing signature."
        expected = self._mac(method, key, date, expires)
        if not hmac.compare_digest(expected, signature):
            return "Signature does not match."
        try:
            signed_at = datetime.strptime(date, _DATE_FORMAT).replace(tzinfo=UTC)
            lifetime = int(expires)
        except ValueError:
            return "Malformed signature parameters."
        if self._clock() > signed_at.timestamp() + lifetime:
            return "Request has expired."
        return None


def _canonical_method(method: str) -> str:
    method = method.upper()
    return "GET" if method == "HEAD" else method
