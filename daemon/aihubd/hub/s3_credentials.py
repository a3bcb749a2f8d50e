"""Transfers with the Hub's single-object S3 credentials: botocore + s3transfer in a worker thread.

The same client setup, part size and concurrency as the official client (``qai_hub/s3_transfer.py``):
SigV4, acceleration as the Hub says, adaptive retries (10 attempts, no retry layer of ours on top),
256 MiB parts, 4 requests at a time. botocore reads ``AWS_ENDPOINT_URL_S3`` itself, as it does for
the official client. The keys are secrets: the SDK's debug logging (which prints signed headers) is
held at WARNING, and every error text is scrubbed of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import botocore.exceptions
import botocore.session
from botocore.client import Config
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber
from s3transfer.utils import OSUtils

from ..errors import AihubdError, HubError, HubUnavailable
from ..model import S3Grant
from ..pinned_file import PinnedFile
from .blob_errors import TransferExpired
from .body_checks import md5_of_head

__all__ = ["PART_SIZE", "s3_download", "s3_upload", "scrub"]

T = TypeVar("T")
PART_SIZE = 256 * 1024 * 1024
CONCURRENCY = 4
# botocore's default is 60 s per attempt; with 10 attempts an unreachable endpoint would hold a
# transfer for over ten minutes. The daemon's own HTTP session connects within 10 s too.
CONNECT_TIMEOUT = 10.0
_EXPIRED_CODES = {"ExpiredToken", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "TokenRefreshRequired"}
_SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


def _transfer_config() -> TransferConfig:
    return TransferConfig(
        multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_request_concurrency=CONCURRENCY
    )


def _quiet_sdk_loggers() -> None:
    """botocore logs signed request headers (the session token among them) at DEBUG."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _client(grant: S3Grant) -> Any:  # botocore makes the S3 client's methods at run time
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        region_name=grant.region or None,
        aws_access_key_id=grant.access_key_id,
        aws_secret_access_key=grant.secret_access_key,
        aws_session_token=grant.session_token or None,
        config=Config(
            signature_version="s3v4",
            s3={"use_accelerate_endpoint": grant.use_transfer_acceleration},
            retries={"max_attempts": 10, "mode": "adaptive"},
            connect_timeout=CONNECT_TIMEOUT,
        ),
    )


def scrub(text: str, grant: S3Grant) -> str:
    """``text`` with the grant's keys replaced (S3 error bodies can echo the access key id)."""
    for secret in grant.secrets():
        text = text.replace(secret, "***")
    return text


class _Progress(BaseSubscriber):
    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report

    def on_progress(self, future: TransferFuture, bytes_transferred: int, **kwargs: Any) -> None:
        self._report(bytes_transferred)


class _Cancel:
    """Carries an asyncio cancellation into the worker thread's s3transfer future."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: TransferFuture | None = None
        self.requested = False

    def attach(self, future: TransferFuture) -> None:
        with self._lock:
            self._future = future
            if self.requested:
                future.cancel()

    def cancel(self) -> None:
        with self._lock:
            self.requested = True
            if self._future is not None:
                self._future.cancel()


def _translate(exc: BaseException, grant: S3Grant, what: str) -> Exception:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = scrub(f"{code}: {error.get('Message', '')}", grant)
        if code in _EXPIRED_CODES or status == 403:
            return TransferExpired(f"S3 refused the Hub's credentials for {what} ({text})", status or 403)
        if status == 429 or status >= 500 or code in ("SlowDown", "RequestTimeout"):
            return HubUnavailable(f"S3 is unavailable for {what} ({status} {text}); try again later", status)
        return HubError(f"S3 refused {what}: {text}", status or None)
    if isinstance(exc, botocore.exceptions.BotoCoreError | ConnectionError | TimeoutError):
        return HubUnavailable(f"cannot reach S3 for {what} ({exc.__class__.__name__})")
    if isinstance(exc, OSError | AihubdError):
        return exc  # local disk trouble, or already one of ours
    return HubError(f"S3 transfer of {what} failed: {scrub(str(exc), grant)}")


async def _in_thread(work: Callable[[_Cancel], T], grant: S3Grant, what: str) -> T:
    """``work`` in a worker thread; an asyncio cancellation cancels its transfer and waits for the
    thread to stop (no file work runs on after the caller cleaned up)."""
    _quiet_sdk_loggers()
    cancel = _Cancel()
    running = asyncio.get_running_loop().run_in_executor(None, work, cancel)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        cancel.cancel()
        await asyncio.wait([running])
        raise
    except concurrent.futures.CancelledError:
        raise HubError(f"S3 transfer of {what} was cancelled") from None
    except Exception as exc:
        translated = _translate(exc, grant, what)
        if translated is exc:
            raise
        raise translated from None


def _reporter(report: Callable[[int], None] | None) -> list[BaseSubscriber]:
    if report is None:
        return []
    loop = asyncio.get_running_loop()

    def from_thread(n: int) -> None:
        loop.call_soon_threadsafe(report, n)

    return [_Progress(from_thread)]


class _PinnedOSUtils(OSUtils):
    """s3transfer's file access, every part read from one pinned fd (never the path again)."""

    def __init__(self, source: PinnedFile) -> None:
        self._source = source

    def get_file_size(self, filename: str) -> int:
        return self._source.size

    def open(self, filename: str, mode: str) -> Any:
        return self._source.reader()


async def s3_upload(
    grant: S3Grant, source: PinnedFile, content_type: str, *, progress: Callable[[int], None] | None = None
) -> None:
    """Upload ``source`` to the grant's object (``ContentType`` set, as the official client does)."""
    subscribers = _reporter(progress)

    def work(cancel: _Cancel) -> None:
        with TransferManager(_client(grant), config=_transfer_config(), osutil=_PinnedOSUtils(source)) as manager:
            future = manager.upload(
                str(source.path),
                grant.bucket,
                grant.key,
                extra_args={"ContentType": content_type},
                subscribers=subscribers,
            )
            cancel.attach(future)
            future.result()

    await _in_thread(work, grant, source.name)


async def s3_download(
    grant: S3Grant, dest: Path, *, progress: Callable[[int], None] | None = None
) -> tuple[int, str | None]:
    """Download the grant's object to ``dest``; returns its size, checked against S3's, and the
    MD5 hex its ETag states (None for a multipart or KMS-encrypted object), for the caller to check."""
    subscribers = _reporter(progress)

    def work(cancel: _Cancel) -> tuple[int, str | None]:
        client = _client(grant)
        head = client.head_object(Bucket=grant.bucket, Key=grant.key)
        expected = int(head["ContentLength"])
        with TransferManager(client, config=_transfer_config()) as manager:
            future = manager.download(grant.bucket, grant.key, str(dest), subscribers=subscribers)
            cancel.attach(future)
            future.result()
        got = dest.stat().st_size
        if got != expected:
            raise HubUnavailable(f"S3 sent {got} of {expected} bytes")
        return got, md5_of_head(head)

    return await _in_thread(work, grant, dest.name)
