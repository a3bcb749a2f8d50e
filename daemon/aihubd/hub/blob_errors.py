"""Errors of blob transfers (pre-signed S3 URLs), translated to ``aihubd.errors`` kinds.

A blob store answers in S3's XML error format, not the Hub's JSON, and a 403 there means an
expired or mis-signed URL rather than a missing permission.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import HubError, HubUnavailable
from .retry import parse_retry_after

__all__ = ["BlobUrlExpired", "blob_transport", "raise_for_blob_status", "redact_url"]


class BlobUrlExpired(HubError):
    """The blob store refused a pre-signed URL (403): fresh transfer info is needed."""


def redact_url(url: str) -> str:
    """A URL without its query string (pre-signed URLs carry their signature there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def raise_for_blob_status(resp: aiohttp.ClientResponse, payload: bytes) -> None:
    status = resp.status
    if 200 <= status < 300:
        return
    where = f"{resp.method} {redact_url(str(resp.url))}"
    text = payload.decode("utf-8", "replace").strip()[:300]
    if status == 403:
        raise BlobUrlExpired(f"the blob store refused {where} (403): {text}", status)
    if status == 429 or status >= 500:
        raise HubUnavailable(
            f"the Hub's blob store is unavailable ({status} on {where}); try again later",
            status,
            parse_retry_after(resp.headers.get("Retry-After")),
        )
    raise HubError(f"the Hub's blob store answered {status} on {where}: {text}", status)


@contextlib.contextmanager
def blob_transport(method: str, url: str) -> Iterator[None]:
    """Turn transport failures into HubUnavailable, with the URL's secrets left out."""
    try:
        yield
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        raise HubUnavailable(
            f"cannot reach the Hub's blob store ({method} {redact_url(url)}: {exc.__class__.__name__})"
        ) from None
