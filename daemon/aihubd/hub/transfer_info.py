"""The Hub's answers to "how do I move this file": every variant the official client reads.

With ``supports_s3_credentials=true`` (what qai-hub 0.52+ sends, and so the daemon) the Hub
answers with the wrappers ``FileUploadResponse`` / ``FileDownloadResponse``: pre-signed URL(s) or
single-object ``S3Credentials``. A Hub that predates the flag ignores it and answers with the bare
``FileMultipartUploadURL`` / ``FileDownloadURL`` the official client's older calls read
(``_get_model_multipart_upload_urls``, ``get_model_download_url``). The bytes tell which: a wrapper
starts with a length-delimited sub-message, a bare message with a printable URL, and each reading
is accepted only when its fields make sense (URLs are http(s), credentials name a bucket and key).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message
from qai_hub import public_api_pb2 as pb

from ..errors import HubError
from ..model import S3Grant

__all__ = [
    "MultipartPlan",
    "UploadPlan",
    "grant_from_pb",
    "parse_download_reply",
    "parse_upload_reply",
]


@dataclass(frozen=True)
class MultipartPlan:
    """Pre-signed part URLs, in order; every part but the last is ``max_part_size`` bytes."""

    urls: tuple[str, ...]
    upload_id: str
    max_part_size: int

    def __repr__(self) -> str:  # the URLs carry signatures
        return (
            f"MultipartPlan({len(self.urls)} parts, upload_id={self.upload_id!r}, max_part_size={self.max_part_size})"
        )

    def part_range(self, index: int, size: int) -> tuple[int, int]:
        """(offset, length) of part ``index`` of a ``size``-byte file, as the official client cuts it."""
        if len(self.urls) == 1:
            return 0, size
        offset = index * self.max_part_size
        length = size - offset if index == len(self.urls) - 1 else self.max_part_size
        return offset, length

    def check_covers(self, size: int) -> None:
        """Refuse a plan whose parts do not cover the file exactly (it would store a damaged model)."""
        n = len(self.urls)
        if n == 0:
            raise HubError("the Hub offered an upload with no part URLs")
        if n > 1 and not (self.max_part_size * (n - 1) < size <= self.max_part_size * n):
            raise HubError(
                f"the Hub's upload plan ({n} parts of at most {self.max_part_size} bytes) "
                f"does not fit the model's {size} bytes"
            )


UploadPlan = MultipartPlan | S3Grant


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def grant_from_pb(creds: pb.S3Credentials) -> S3Grant | None:
    """The credentials, or None when they do not name a key pair, bucket and key."""
    if not (creds.access_key_id and creds.secret_access_key and creds.bucket and creds.key):
        return None
    return S3Grant(
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
        bucket=creds.bucket,
        key=creds.key,
        region=creds.region,
        use_transfer_acceleration=creds.use_transfer_acceleration,
    )


def _parse(message: Message, payload: bytes) -> bool:
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return False
    return True


def parse_upload_reply(payload: bytes, what: str) -> UploadPlan:
    """The upload method the Hub offered for ``what`` (a model id), from the reply's bytes."""
    wrapper = pb.FileUploadResponse()
    if _parse(wrapper, payload):
        method = wrapper.WhichOneof("method")
        if method == "multipart_url" and wrapper.multipart_url.urls and all(map(_is_url, wrapper.multipart_url.urls)):
            m = wrapper.multipart_url
            return MultipartPlan(tuple(m.urls), m.upload_id, m.max_part_size)
        if method == "credentials" and (grant := grant_from_pb(wrapper.credentials)) is not None:
            return grant
        if method == "url" and _is_url(wrapper.url.url):
            # The official client has no model upload by single URL (that form POST is for datasets).
            raise HubError(
                f"the Hub offered a single-URL form upload for model {what}, which qai-hub 0.56.0 "
                "does not use for models either; aihubd uploads models by multipart URLs or S3 credentials"
            )
    bare = pb.FileMultipartUploadURL()
    if _parse(bare, payload) and bare.urls and all(map(_is_url, bare.urls)):
        return MultipartPlan(tuple(bare.urls), bare.upload_id, bare.max_part_size)
    raise HubError(f"the Hub's upload instructions for model {what} are unreadable (no URLs, no credentials)")


def parse_download_reply(payload: bytes, what: str) -> tuple[str, S3Grant | None, str]:
    """(url, credentials, filename) of a download the Hub offered for ``what``; exactly one of the
    first two is set."""
    wrapper = pb.FileDownloadResponse()
    if _parse(wrapper, payload):
        method = wrapper.WhichOneof("method")
        if method == "url" and _is_url(wrapper.url.url):
            return wrapper.url.url, None, wrapper.url.filename
        if method == "credentials" and (grant := grant_from_pb(wrapper.credentials)) is not None:
            return "", grant, wrapper.credentials.filename
    bare = pb.FileDownloadURL()
    if _parse(bare, payload) and _is_url(bare.url):
        return bare.url, None, bare.filename
    raise HubError(f"the Hub offered no usable download for {what} (no URL, no credentials)")
