"""Errors of blob transfers (pre-signed S3 URLs, S3 itself), translated to ``aihubd.errors`` kinds.

A blob store answers in S3's XML error format, not the Hub's JSON, and a 403 there means an
expired (or mis-signed) URL rather than a missing permission: the caller asks the Hub for fresh
transfer info. Texts never carry a URL's query string (its signature).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import HubError, HubUnavailable
from .retry import parse_retry_after

__all__ = ["TransferExpired", "blob_transport", "raise_for_blob_status", "redact_url", "s3_error_text"]

_CODE = re.compile(rb"<Code>(\w{1,100})</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]{1,1000})</Message>")


class TransferExpired(HubError):
    """The blob store refused a pre-signed URL or credentials (403): ask the Hub for fresh ones."""


def redact_url(url: str) -> str:
    """A URL without its query string (pre-signed URLs carry their signature there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def s3_error_text(payload: bytes, reason: str) -> str:
    """``Code: Message`` of an S3 XML error body (read as the official client does: by pattern,
    never by an XML parser), else the HTTP reason."""
    code = _CODE.search(payload)
    message = _MESSAGE.search(payload)
    if code or message:
        return (
            f"{code[1].decode('ascii', 'replace') if code else ''}: "
            f"{message[1].decode('utf-8', 'replace') if message else ''}"
        )
    return reason


def raise_for_blob_status(resp: aiohttp.ClientResponse, payload: bytes) -> None:
    status = resp.status
    if 200 <= status < 300:
        return
    where = f"{resp.method} {redact_url(str(resp.url))}"
    text = s3_error_text(payload, resp.reason or str(status))
    if status == 403:
        raise TransferExpired(f"the blob store refused {where} (403 {text})", status)
    if status == 429 or status >= 500:
        raise HubUnavailable(
            f"the Hub's blob store is unavailable ({status} {text} on {where}); try again later",
            status,
            parse_retry_after(resp.headers.get("Retry-After")),
        )
    if 300 <= status < 400:
        raise HubError(f"the blob store redirected {where} ({status}); aihubd does not follow blob redirects", status)
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
