"""What a downloaded body must match before it counts as the file the Hub offered.

The Hub's API states no size or digest of a file (``Model``, ``NamedArtifactDownloadURL`` and
``S3Credentials`` carry none); the blob store does: ``Content-Length`` / ``Content-Range`` (or a
416 ``Content-Range: bytes */N`` to a range past the end), S3's ``ETag`` (the MD5 of the bytes for
an object stored in one part, unless SSE-KMS or SSE-C encrypted it; a multipart ``…-N`` ETag
states no digest) and ``head_object``'s ``ContentLength``/``ETag`` on the credentials path. An
HTML page is never a model or a log: it is a proxy, portal or error page answering 200.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import HubUnavailable

__all__ = ["md5_of_etag", "md5_of_head", "refuse_html"]

_MD5 = re.compile(r"[0-9a-f]{32}")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def refuse_html(content_type: str, what: str) -> None:
    """HubUnavailable if the blob store answered with an HTML page instead of ``what``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _HTML_TYPES:
        raise HubUnavailable(f"the blob store answered {what} with an HTML page ({media}), not the file")


def _md5(etag: str, sse: str, sse_customer: str) -> str | None:
    value = etag.strip()
    if value.startswith("W/"):
        return None  # a weak validator says nothing about the bytes
    value = value.strip('"').lower()
    if not _MD5.fullmatch(value) or sse.lower().startswith("aws:kms") or sse_customer:
        return None
    return value


def md5_of_etag(headers: Mapping[str, str]) -> str | None:
    """The MD5 hex an S3 GET reply's ``ETag`` states, or None when it states none."""
    return _md5(
        headers.get("ETag", ""),
        headers.get("x-amz-server-side-encryption", ""),
        headers.get("x-amz-server-side-encryption-customer-algorithm", ""),
    )


def md5_of_head(head: Mapping[str, Any]) -> str | None:
    """The MD5 hex a botocore ``head_object`` reply's ``ETag`` states, or None."""
    return _md5(
        str(head.get("ETag", "")), str(head.get("ServerSideEncryption", "")), str(head.get("SSECustomerAlgorithm", ""))
    )
