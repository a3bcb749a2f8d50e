"""Model uploads and blob downloads: the Hub's transfer-info endpoints and the blob store behind them."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import aiohttp
from google.protobuf.message import Message
from qai_hub import public_api_pb2 as pb

from ..errors import HubError, HubUnavailable
from ..model import ArtifactType, TargetFile
from ..threads import finish_in_thread
from .blob_errors import blob_transport, raise_for_blob_status, redact_url
from .retry import RetryPolicy, with_retries

__all__ = ["HubCall", "HubTransfers"]

M = TypeVar("M", bound=Message)
MODEL_TYPE_QNN_DLC = pb.ModelType.MODEL_TYPE_QNN_DLC
CHUNK = 1 << 20
DOWNLOAD_QUERY = {"use_acceleration": "false", "supports_s3_credentials": "false"}


class HubCall(Protocol):
    """One Hub API call (the client's ``_call``): errors translated, retried where asked."""

    async def __call__(
        self,
        method: str,
        segments: Sequence[str],
        reply: type[M],
        *,
        body: Message | None = ...,
        params: dict[str, str] | list[tuple[str, str]] | None = ...,
        object_id: str = ...,
        retry: bool | None = ...,
    ) -> M: ...


def _scoped(project_id: str, *segments: str) -> tuple[str, ...]:
    return ("projects", project_id, *segments) if project_id else segments


class HubTransfers:
    """Uploads and downloads over the client's session, with transfer info from the Hub API."""

    def __init__(self, call: HubCall, session: aiohttp.ClientSession, retry: RetryPolicy) -> None:
        self._call = call
        self._session = session
        self._retry = retry

    async def upload_model(self, path: Path, name: str, project_id: str = "") -> str:
        # Each upload step may be repeated: a model record created twice is an unused draft, a part
        # PUT twice is the same bytes, and completing the same upload id twice is the same result.
        created = await self._call(
            "POST",
            _scoped(project_id, "models"),
            pb.CreateUpdateResponse,
            body=pb.Model(name=name, model_type=MODEL_TYPE_QNN_DLC, is_directory=False),
            retry=True,
        )
        if not created.id:
            raise HubError(f"the Hub did not create a model for {name}: {created.status}")
        if created.status:  # the Hub already has this content
            return created.id
        size = path.stat().st_size
        how = await self._call(
            "GET",
            ("models", created.id, "multipart_upload"),
            pb.FileUploadResponse,
            params={**DOWNLOAD_QUERY, "file_size": str(size)},
            object_id=created.id,
        )
        if how.WhichOneof("method") != "multipart_url":
            raise HubError(
                "the Hub offered an upload method aihubd does not support "
                f"({how.WhichOneof('method')}); only multipart URLs are"
            )
        etags = [
            await with_retries(functools.partial(self._put_part, url, path, i, how.multipart_url), self._retry)
            for i, url in enumerate(how.multipart_url.urls)
        ]
        done = await self._call(
            "POST",
            ("models", created.id, "multipart_upload"),
            pb.CreateUpdateResponse,
            body=pb.FileMultipartUploadComplete(upload_id=how.multipart_url.upload_id, etags=etags),
            object_id=created.id,
            retry=True,
        )
        return done.id or created.id

    async def _put_part(self, url: str, path: Path, index: int, plan: pb.FileMultipartUploadURL) -> str:
        size = path.stat().st_size
        start = index * plan.max_part_size if len(plan.urls) > 1 else 0
        end = size if index == len(plan.urls) - 1 else min(size, start + plan.max_part_size)
        with path.open("rb") as f:
            f.seek(start)
            data = f.read(end - start)
        with blob_transport("PUT", url):
            async with self._session.put(url, data=data) as resp:
                payload = await resp.read()
                raise_for_blob_status(resp, payload)
                etag = resp.headers.get("ETag")
        if not etag:
            raise HubError(f"the Hub's upload URL gave no ETag for part {index + 1}")
        return etag

    async def target_model_file(self, model_id: str) -> TargetFile:
        info = await self._call(
            "GET", ("models", model_id, "download"), pb.FileDownloadResponse, params=DOWNLOAD_QUERY, object_id=model_id
        )
        if info.WhichOneof("method") != "url" or not info.url.url:
            raise HubError(f"the Hub offered no download URL for model {model_id}")
        return TargetFile(url=info.url.url, filename=info.url.filename)

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        listing = await self._call(
            "GET",
            ("jobs", job_id, "device_runs", "latest", "artifact_list", str(int(artifact_type))),
            pb.NamedArtifactDownloadURLList,
            params=DOWNLOAD_QUERY,
            object_id=job_id,
        )
        return [TargetFile(url=a.url, filename=a.filename) for a in listing.artifacts]

    async def download(self, url: str, dest: Path) -> tuple[int, str]:
        """Write the blob at ``url`` to ``dest``, resuming with HTTP Range after a broken transfer."""
        with dest.open("wb") as out:
            sink = _Sink(out)
            for attempt in range(self._retry.attempts):
                try:
                    await self._fetch_into(url, sink)
                    break
                except HubUnavailable as exc:
                    if attempt + 1 >= self._retry.attempts:
                        raise
                    await asyncio.sleep(exc.retry_after if exc.retry_after is not None else self._retry.delay(attempt))
            out.flush()
            await finish_in_thread(os.fsync, out.fileno())  # seconds for a big file: not on the loop
        return sink.size, sink.hash.hexdigest()

    async def _fetch_into(self, url: str, sink: _Sink) -> None:
        """One GET, ranged when part of the blob is already in ``sink``."""
        headers = {"Range": f"bytes={sink.size}-"} if sink.size else {}
        with blob_transport("GET", url):
            async with self._session.get(url, headers=headers) as resp:
                raise_for_blob_status(resp, b"")
                if sink.size and resp.status != 206:  # the server ignored the range: start over
                    sink.reset()
                total = _total_size(resp, sink.size)
                try:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        sink.write(chunk)
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
                    raise HubUnavailable(f"transfer of {redact_url(url)} broke at {sink.size} bytes") from None
        if total is not None and sink.size != total:
            raise HubUnavailable(f"transfer of {redact_url(url)} ended at {sink.size} of {total} bytes")


class _Sink:
    """A file being downloaded into, with its running hash and size."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.hash.update(chunk)
        self.size += len(chunk)

    def reset(self) -> None:
        self.out.seek(0)
        self.out.truncate()
        self.hash = hashlib.sha256()
        self.size = 0


def _total_size(resp: aiohttp.ClientResponse, offset: int) -> int | None:
    if resp.status == 206:
        content_range = resp.headers.get("Content-Range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            return int(content_range.rsplit("/", 1)[1])
        return None if resp.content_length is None else offset + resp.content_length
    return resp.content_length
