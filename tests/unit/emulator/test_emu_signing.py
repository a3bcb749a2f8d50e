"""Signed blob URLs: valid, tampered, wrong method/key, expired, missing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from aihubd.emulator.signing import SIGNATURE_PARAM, UrlSigner


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_valid_signature(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    url = signer.url("http://127.0.0.1:1", "GET", "models/m1")
    assert url.startswith("http://127.0.0.1:1/blobs/models/m1?")
    query = _query(url)
    assert SIGNATURE_PARAM in query and "X-Amz-Expires" in query and "X-Amz-Date" in query
    assert signer.verify("GET", "models/m1", query) is None
    assert signer.verify("HEAD", "models/m1", query) is None


def test_refusals(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "GET", "models/m1"))
    assert signer.verify("GET", "models/m2", query) is not None
    assert signer.verify("PUT", "models/m1", query) is not None
    tampered = dict(query, **{SIGNATURE_PARAM: "0" * 64})
    assert signer.verify("GET", "models/m1", tampered) == "Signature does not match."
    longer = dict(query, **{"X-Amz-Expires": "999999"})
    assert signer.verify("GET", "models/m1", longer) == "Signature does not match."
    assert signer.verify("GET", "models/m1", {}) == "Missing signature."
    other_secret = UrlSigner(b"other", 60, clock)
    assert other_secret.verify("GET", "models/m1", query) is not None


def test_expiry(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "GET", "k"))
    clock.tick(59)
    assert signer.verify("GET", "k", query) is None
    clock.tick(2)
    assert signer.verify("GET", "k", query) == "Request has expired."
