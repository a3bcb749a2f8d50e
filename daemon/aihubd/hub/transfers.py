"""Model uploads and file downloads: the Hub's transfer-info endpoints and the blob store behind them.

Requests are the official client's (qai-hub 0.56.0, ``public_rest_api.py``): transfer info asked
with ``use_acceleration=true&supports_s3_credentials=true``; every reply variant read (see
``transfer_info``). Multipart part PUTs carry no ``Content-Type`` (S3 V2 signatures cover it), follow
no redirect and stream each part from disk. S3 credentials go through botocore + s3transfer
(``s3_credentials``). A 403 from the blob store (an expired URL or credentials) asks the Hub for fresh
transfer info and carries on where the transfer stood.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import mimetypes
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import aiohttp
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from qai_hub import public_api_pb2 as pb

from ..errors import HubError, HubUnavailable, NotFound
from ..model import ArtifactType, S3Grant, TargetFile
from ..pinned_file import PinnedFile
from ..threads import finish_in_thread
from .blob_errors import TransferExpired, blob_transport, raise_for_blob_status, redact_url
from .body_checks import md5_of_etag, refuse_html
from .file_payload import FileRegionPayload
from .retry import RetryPolicy, with_retries
from .s3_credentials import s3_download, s3_upload
from .transfer_info import MultipartPlan, UploadPlan, grant_from_pb, parse_download_reply, parse_upload_reply

__all__ = ["TRANSFER_QUERY", "HubCall", "HubTransfers", "Progress"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
MODEL_TYPE_QNN_DLC = pb.ModelType.MODEL_TYPE_QNN_DLC
CHUNK = 1 << 20
MAX_REFRESHES = 3
# What the official client's _get_transfer_response sends (always, for models and artifacts alike).
TRANSFER_QUERY: tuple[tuple[str, str], ...] = (("use_acceleration", "true"), ("supports_s3_credentials", "true"))

Progress = Callable[[str, int], None]
"""Called with (file name, bytes moved) as a transfer advances, on the event loop."""


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


def content_type_of(path: Path) -> str:
    """The Content-Type the official client gives an S3 upload (``guess_file_http_content_type``)."""
    if path.name.endswith((".log", "schematic.bin")):
        return "text/plain"
    return mimetypes.guess_type(str(path), strict=True)[0] or "application/octet-stream"


def _file_digests(path: Path) -> tuple[str, str]:
    """SHA-256 and MD5 hex of the file at ``path`` (one read)."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


class HubTransfers:
    """Uploads and downloads over the client's session, with transfer info from the Hub API."""

    def __init__(
        self,
        call: HubCall,
        session: aiohttp.ClientSession,
        retry: RetryPolicy,
        *,
        progress: Progress | None = None,
        max_refreshes: int = MAX_REFRESHES,
    ) -> None:
        self._call = call
        self._session = session
        self._retry = retry
        self._progress = progress
        self._max_refreshes = max_refreshes

    def _reporter(self, name: str) -> Callable[[int], None] | None:
        progress = self._progress
        return None if progress is None else functools.partial(progress, name)

    async def _raw(self, segments: Sequence[str], params: list[tuple[str, str]], object_id: str) -> bytes:
        """A GET whose reply is read here: its message type depends on the Hub's version."""
        reply = await self._call("GET", segments, empty_pb2.Empty, params=params, object_id=object_id)
        return reply.SerializeToString()  # unknown fields are kept byte for byte

    # -- uploads ------------------------------------------------------------------------------

    async def upload_model(self, source: Path | PinnedFile, name: str, project_id: str = "") -> str:
        """Upload a local file as a new Hub model; its id. Every byte sent is read through one open
        file descriptor (a `PinnedFile`): a file renamed over the path meanwhile is not what is sent."""
        if isinstance(source, PinnedFile):
            return await self._upload(source, name, project_id)
        with PinnedFile(source) as pinned:
            return await self._upload(pinned, name, project_id)

    async def _upload(self, source: PinnedFile, name: str, project_id: str) -> str:
        # Each upload step may be repeated: a model record created twice is an unused draft, a part
        # PUT twice is the same bytes, and completing the same upload id twice is the same result.
        t0 = time.monotonic()
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
        model_id = created.id
        size = source.size
        plan = await self._upload_plan(model_id, size)
        etags: list[str] = []
        refreshes = 0
        while True:
            try:
                if isinstance(plan, S3Grant):
                    # botocore retries on its own (10 attempts), as for the official client.
                    await s3_upload(plan, source, content_type_of(source.path), progress=self._reporter(source.name))
                    done = await self._call(
                        "POST", ("models", model_id, "upload_complete"), pb.CreateUpdateResponse,
                        object_id=model_id, retry=True,
                    )  # fmt: skip
                    how = "S3 credentials"
                else:
                    while len(etags) < len(plan.urls):  # sequential, as the official client uploads
                        put = functools.partial(self._put_part, plan, len(etags), source, size)
                        etags.append(await with_retries(put, self._retry))
                    done = await self._call(
                        "POST",
                        ("models", model_id, "multipart_upload"),
                        pb.CreateUpdateResponse,
                        body=pb.FileMultipartUploadComplete(upload_id=plan.upload_id, etags=etags),
                        object_id=model_id,
                        retry=True,
                    )
                    how = f"{len(plan.urls)} pre-signed part URL(s)"
                break
            except TransferExpired as exc:
                if refreshes >= self._max_refreshes:
                    raise HubError(f"uploading {name}: {exc} even with fresh transfer info from the Hub") from None
                refreshes += 1
                log.info("upload of %s: the blob store refused it (%s); asking the Hub again", name, exc.status)
                fresh = await self._upload_plan(model_id, size)
                if not (
                    isinstance(plan, MultipartPlan) and isinstance(fresh, MultipartPlan) and _same_parts(plan, fresh)
                ):
                    etags = []  # another upload (or method): its parts start over
                plan = fresh
        if not done.id:
            raise HubError(f"the Hub did not confirm the upload of {name}: {done.status}")
        log.info("uploaded %s (%d bytes) as model %s by %s in %.2f s", name, size, done.id, how, time.monotonic() - t0)
        return done.id

    async def _upload_plan(self, model_id: str, size: int) -> UploadPlan:
        payload = await self._raw(
            ("models", model_id, "multipart_upload"), [*TRANSFER_QUERY, ("file_size", str(size))], model_id
        )
        plan = parse_upload_reply(payload, model_id)
        if isinstance(plan, MultipartPlan):
            plan.check_covers(size)
        return plan

    async def _put_part(self, plan: MultipartPlan, index: int, source: PinnedFile, size: int) -> str:
        url = plan.urls[index]
        offset, length = plan.part_range(index, size)
        body = FileRegionPayload(source, offset, length, on_chunk=self._reporter(source.name))
        with blob_transport("PUT", url):
            async with self._session.put(
                url, data=body, allow_redirects=False, skip_auto_headers=("Content-Type",)
            ) as resp:
                payload = await resp.read()
                raise_for_blob_status(resp, payload)
                etag = resp.headers.get("ETag")
        if not etag:
            raise HubError(f"the Hub's upload URL gave no ETag for part {index + 1}")
        return etag

    # -- download info -------------------------------------------------------------------------

    async def target_model_file(self, model_id: str) -> TargetFile:
        payload = await self._raw(("models", model_id, "download"), list(TRANSFER_QUERY), model_id)
        url, grant, filename = parse_download_reply(payload, f"model {model_id}")
        return TargetFile(
            url=url,
            filename=filename,
            credentials=grant,
            refresh=functools.partial(self.target_model_file, model_id),
        )

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        segments = ("jobs", job_id, "device_runs", "latest", "artifact_list", str(int(artifact_type)))
        listing = await self._call(
            "GET", segments, pb.NamedArtifactDownloadURLList, params=list(TRANSFER_QUERY), object_id=job_id
        )
        files: list[TargetFile] = []
        for artifact in listing.artifacts:
            grant = grant_from_pb(artifact.credentials) if artifact.HasField("credentials") else None
            if grant is None and not artifact.url.startswith(("https://", "http://")):
                raise HubError(f"the Hub offered {artifact.filename} of job {job_id} with no URL and no credentials")
            files.append(
                TargetFile(
                    url="" if grant is not None else artifact.url,
                    filename=artifact.filename,
                    credentials=grant,
                    refresh=functools.partial(self._artifact_again, job_id, artifact_type, artifact.filename),
                )
            )
        return files

    async def _artifact_again(self, job_id: str, artifact_type: ArtifactType, filename: str) -> TargetFile:
        for target in await self.artifact_files(job_id, artifact_type):
            if target.filename == filename:
                return target
        raise NotFound(f"job {job_id} no longer offers {filename}")

    # -- downloads -----------------------------------------------------------------------------

    async def download(self, target: TargetFile, dest: Path) -> tuple[int, str]:
        """Write ``target`` to ``dest``; returns (size, sha256 hex). A broken URL transfer resumes
        with HTTP Range; an expired URL or credentials are asked for again and the transfer goes on."""
        out: BinaryIO | None = None
        sink: _Sink | None = None
        refreshes = 0
        try:
            while True:
                try:
                    if target.credentials is not None:
                        if out is not None:  # the Hub switched from a URL to credentials
                            out.close()
                            out = sink = None
                        size, digest = await self._download_s3(target.credentials, dest)
                        log.info("fetched %s (%d bytes) by S3 credentials", target.filename, size)
                        return size, digest
                    if sink is None:
                        out = dest.open("wb")
                        sink = _Sink(out, self._reporter(target.filename))
                    await self._fetch_with_retries(target.url, sink)
                    sink.out.flush()
                    await finish_in_thread(os.fsync, sink.out.fileno())  # seconds for a big file: not on the loop
                    log.info("fetched %s (%d bytes) by URL", target.filename, sink.size)
                    return sink.size, sink.hash.hexdigest()
                except TransferExpired as exc:
                    if target.refresh is None or refreshes >= self._max_refreshes:
                        raise HubError(f"downloading {target.filename}: {exc}") from None
                    refreshes += 1
                    log.info("download of %s: the blob store refused it (403); asking the Hub again", target.filename)
                    target = await target.refresh()
        finally:
            if out is not None:
                out.close()

    async def _download_s3(self, grant: S3Grant, dest: Path) -> tuple[int, str]:
        size, md5_expected = await s3_download(grant, dest, progress=self._reporter(dest.name))  # botocore retries
        sha, md5 = await finish_in_thread(_file_digests, dest)
        if md5_expected is not None and md5 != md5_expected:
            raise HubUnavailable(f"S3 sent {size} bytes of {dest.name} that do not match their ETag (MD5)")
        return size, sha

    async def _fetch_with_retries(self, url: str, sink: _Sink) -> None:
        """The whole body into ``sink``, checked against what the blob store states (``body_checks``):
        a body that does not match is thrown away and fetched again, up to the retry budget."""
        for attempt in range(self._retry.attempts):
            try:
                stated = await self._fetch_into(url, sink)
                if not stated and sink.md5_expected is None and sink.size:
                    # No size and no digest stated (a chunked reply): a range from the end is
                    # answered 416 with the object's size, or with the bytes that did not come.
                    stated = await self._fetch_into(url, sink)
                    if not stated:
                        raise HubUnavailable(f"{redact_url(url)} never stated its size; {sink.size} bytes so far")
                sink.check_md5(redact_url(url))
                return
            except HubUnavailable as exc:
                if attempt + 1 >= self._retry.attempts:
                    raise
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else self._retry.delay(attempt))

    async def _fetch_into(self, url: str, sink: _Sink) -> bool:
        """One GET, ranged when part of the blob is already in ``sink``; whether the blob store
        stated the object's size (the body is checked against it)."""
        headers = {"Range": f"bytes={sink.size}-"} if sink.size else {}
        with blob_transport("GET", url):
            async with self._session.get(url, headers=headers) as resp:
                if resp.status == 416 and sink.size:
                    total = _range_total(resp)
                    if total == sink.size:  # everything had arrived before the connection broke
                        return True
                    sink.reset()
                    raise HubUnavailable(f"{redact_url(url)} is now {total} bytes, not the {sink.size} received")
                raise_for_blob_status(resp, await resp.read() if resp.status >= 300 else b"")
                refuse_html(resp.headers.get("Content-Type", ""), redact_url(url))
                if sink.size and resp.status != 206:  # the server ignored the range: start over
                    sink.reset()
                sink.expect_md5(md5_of_etag(resp.headers), redact_url(url))
                total = _total_size(resp, sink.size)
                try:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        sink.write(chunk)
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
                    raise HubUnavailable(f"transfer of {redact_url(url)} broke at {sink.size} bytes") from None
        if total is not None and sink.size != total:
            raise HubUnavailable(f"transfer of {redact_url(url)} ended at {sink.size} of {total} bytes")
        return total is not None


def _same_parts(old: MultipartPlan, new: MultipartPlan) -> bool:
    """Whether parts PUT under ``old`` still count under ``new`` (fresh URLs of the same upload)."""
    return (old.upload_id, old.max_part_size, len(old.urls)) == (new.upload_id, new.max_part_size, len(new.urls))


class _Sink:
    """A file being downloaded into, with its running hashes (SHA-256 and S3's MD5) and size."""

    def __init__(self, out: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.md5_expected: str | None = None
        self.size = 0
        self._progress = progress

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.hash.update(chunk)
        if self.md5_expected is not None:  # only an ETag that is a digest is worth hashing for
            self.md5.update(chunk)
        self.size += len(chunk)
        if self._progress is not None:
            self._progress(len(chunk))

    def reset(self) -> None:
        self.out.seek(0)
        self.out.truncate()
        self.hash = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.md5_expected = None
        self.size = 0

    def expect_md5(self, md5: str | None, what: str) -> None:
        """The MD5 a reply's ETag states; a resumed reply naming another object starts over."""
        if not self.size:
            self.md5_expected = md5
        elif md5 is not None and md5 != self.md5_expected:
            self.reset()
            raise HubUnavailable(f"{what} changed during the transfer (another ETag)")

    def check_md5(self, what: str) -> None:
        """HubUnavailable (and nothing kept) if the bytes do not match the stated MD5."""
        if self.md5_expected is not None and self.md5.hexdigest() != self.md5_expected:
            size = self.size
            self.reset()
            raise HubUnavailable(f"{what} sent {size} bytes that do not match their ETag (MD5)")


def _range_total(resp: aiohttp.ClientResponse) -> int | None:
    """N of a ``Content-Range: bytes .../N`` header, if there is one."""
    tail = resp.headers.get("Content-Range", "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _total_size(resp: aiohttp.ClientResponse, offset: int) -> int | None:
    if resp.status == 206:
        total = _range_total(resp)
        if total is not None:
            return total
        return None if resp.content_length is None else offset + resp.content_length
    return resp.content_length
