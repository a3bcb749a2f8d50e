"""Signed blob URLs (S3 V2 query auth): valid, tampered, wrong method/key/headers, expired, missing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

from aihubd.emulator.signing import ACCESS_KEY_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM, UrlSigner


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_valid_signature_is_s3_v2_query_auth(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    url = signer.url("http://127.0.0.1:1", "GET", "models/m1")
    assert url.startswith("http://127.0.0.1:1/blobs/models/m1?")
    query = _query(url)
    assert set(query) == {ACCESS_KEY_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM}
    assert query[EXPIRES_PARAM] == str(int(clock()) + 60)
    # S3 V2: base64 HMAC-SHA1 of METHOD, Content-MD5, Content-Type, Expires, resource.
    string_to_sign = f"GET\n\n\n{query[EXPIRES_PARAM]}\n/blobs/models/m1".encode()
    expected = base64.b64encode(hmac.new(b"secret", string_to_sign, hashlib.sha1).digest()).decode()
    assert query[SIGNATURE_PARAM] == expected
    assert signer.verify("GET", "models/m1", query, {}) is None
    assert signer.verify("GET", "models/m1", query, {"Range": "bytes=0-1", "User-Agent": "x"}) is None


def test_refusals(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "PUT", "models/m1"))
    assert signer.verify("PUT", "models/m1", query, {}) is None
    mismatch = "SignatureDoesNotMatch"
    assert signer.verify("PUT", "models/m2", query, {}).code == mismatch  # type: ignore[union-attr]
    assert signer.verify("GET", "models/m1", query, {}).code == mismatch  # type: ignore[union-attr]
    # The signature covers Content-Type and Content-MD5: a header it was not made with breaks it.
    for header in ({"Content-Type": "application/octet-stream"}, {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}):
        refusal = signer.verify("PUT", "models/m1", query, header)
        assert refusal is not None and refusal.code == mismatch and "signature" in refusal.message
    tampered = dict(query, **{SIGNATURE_PARAM: "A" * 28})
    assert signer.verify("PUT", "models/m1", tampered, {}).code == mismatch  # type: ignore[union-attr]
    longer = dict(query, **{EXPIRES_PARAM: str(int(query[EXPIRES_PARAM]) + 999)})
    assert signer.verify("PUT", "models/m1", longer, {}).code == mismatch  # type: ignore[union-attr]
    missing = signer.verify("PUT", "models/m1", {}, {})
    assert missing is not None and missing.code == "AccessDenied"
    other_secret = UrlSigner(b"other", 60, clock)
    assert other_secret.verify("PUT", "models/m1", query, {}) is not None


def test_head_is_not_get(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "GET", "k"))
    assert signer.verify("HEAD", "k", query, {}).code == "SignatureDoesNotMatch"  # type: ignore[union-attr]


def test_expiry(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "GET", "k"))
    clock.tick(59)
    assert signer.verify("GET", "k", query, {}) is None
    clock.tick(2)
    refusal = signer.verify("GET", "k", query, {})
    assert refusal is not None and (refusal.code, refusal.message) == ("AccessDenied", "Request has expired")


def test_client_label(clock) -> None:
    signer = UrlSigner(b"secret", 60, clock)
    query = _query(signer.url("http://h", "GET", "k", client="a@b"))
    assert signer.client_of(query) == "a@b" and signer.client_of({}) == ""
