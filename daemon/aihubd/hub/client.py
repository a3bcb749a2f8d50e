"""The Hub's REST + protobuf protocol over one reused aiohttp session.

Every HTTP failure is translated to an ``aihubd.errors`` kind in ``_translate`` (one place).
Idempotent reads are retried here (the only retry layer); creates and uploads are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from google.protobuf.message import DecodeError, Message
from qai_hub import public_api_pb2 as pb

from .. import __version__
from ..errors import AihubdError, HubAuthError, HubError, HubUnavailable, InvalidArgument, NotFound, PermissionDenied
from ..model import ArtifactType, Device, Job, JobState, JobSummary, ModelInfo, TargetFile
from ..threads import finish_in_thread
from .budget import RequestBudget
from .convert import device_from_pb, device_to_pb, job_from_pb, time_from_pb
from .credentials import HubCredentials
from .retry import RetryPolicy, parse_retry_after, with_retries

__all__ = ["AiohttpHubClient", "HubHealth", "redact_url"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
PROTOBUF = "application/x-protobuf"
MODEL_TYPE_QNN_DLC = pb.MODEL_TYPE_QNN_DLC
CHUNK = 1 << 20
CREDENTIAL_RECHECK_SECONDS = 2.0
DOWNLOAD_QUERY = {"use_acceleration": "false", "supports_s3_credentials": "false"}


def redact_url(url: str) -> str:
    """A URL without its query string (pre-signed URLs carry their signature there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class HubHealth:
    """The outcome of the last Hub API call."""

    reachable: bool
    error: str = ""


class AiohttpHubClient:
    """HubApi over HTTP: one connection pool, one token, errors translated at the boundary."""

    def __init__(
        self,
        credentials: HubCredentials,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        budget: RequestBudget | None = None,
        reload_credentials: Callable[[], HubCredentials] | None = None,
    ) -> None:
        self._creds = credentials
        self._budget = budget or RequestBudget()
        self._reload_credentials = reload_credentials
        self._last_reload = float("-inf")
        self.health: HubHealth | None = None  # None until the first API call
        self._retry = retry or RetryPolicy()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout),
            headers={"User-Agent": f"aihubd/{__version__}"},
            raise_for_status=False,
        )

    async def close(self) -> None:
        await self._session.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, *segments: str) -> str:
        return f"{self._creds.api_url}/api/v1/" + "".join(f"{s}/" for s in segments)

    @staticmethod
    def _scoped(project_id: str, *segments: str) -> tuple[str, ...]:
        return ("projects", project_id, *segments) if project_id else segments

    async def _call(
        self,
        method: str,
        segments: Sequence[str],
        reply: type[M],
        *,
        body: Message | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        object_id: str = "",
        retry: bool | None = None,
    ) -> M:
        """One API call. ``retry`` (default: for GET and DELETE) retries it on HubUnavailable —
        only for calls that are safe to repeat."""
        url = self._url(*segments)

        async def once() -> M:
            await self._admit()
            started = time.monotonic()
            data = body.SerializeToString() if body is not None else b""
            headers = {**self._creds.auth_headers(), "Content-Type": PROTOBUF}
            with _translate(method, url, object_id):
                async with self._session.request(method, url, data=data, params=params, headers=headers) as resp:
                    payload = await resp.read()
                    log.debug("%s %s -> %d in %.3fs", method, redact_url(url), resp.status, time.monotonic() - started)
                    try:
                        _raise_for_status(resp, payload, object_id)
                    except HubUnavailable as exc:
                        if exc.retry_after is not None:
                            self._budget.retry_after(exc.retry_after)
                        raise
                    if resp.headers.get("Content-Type") != PROTOBUF:
                        raise HubError(
                            f"the Hub answered {method} {redact_url(url)} with "
                            f"{resp.headers.get('Content-Type')!r}, not protobuf",
                            resp.status,
                        )
                    message = reply()
                    try:
                        message.ParseFromString(payload)
                    except DecodeError:
                        raise HubError(f"the Hub sent an unreadable {reply.__name__}", resp.status) from None
                    return message

        try:
            if retry if retry is not None else method in ("GET", "DELETE"):
                result = await with_retries(once, self._retry)
            else:
                result = await once()
        except HubAuthError as exc:
            self._budget.auth_failed(str(exc))
            self.health = HubHealth(reachable=False, error=str(exc))
            raise
        except HubUnavailable as exc:
            self.health = HubHealth(reachable=False, error=str(exc))
            raise
        self.health = HubHealth(reachable=True)
        return result

    async def _admit(self) -> None:
        """Take a token from the shared budget; while a 401 blocks traffic, look for new credentials."""
        if self._budget.auth_blocked and self._reload_credentials is not None:
            now = self._budget.clock()
            if now - self._last_reload >= CREDENTIAL_RECHECK_SECONDS:
                self._last_reload = now
                try:
                    fresh = self._reload_credentials()
                except AihubdError:
                    fresh = None
                if fresh is not None and fresh.token != self._creds.token:
                    log.info("new Hub credentials from %s; resuming Hub traffic", fresh.source)
                    self._creds = fresh
                    self._budget.credentials_changed()
        await self._budget.acquire()

    def use_credentials(self, fresh: HubCredentials) -> None:
        """Send ``fresh`` from the next request on (SIGHUP re-read them); lifts a 401 block."""
        self._creds = fresh
        self._budget.credentials_changed()

    # -- HubApi -----------------------------------------------------------------------------

    async def get_auth_user_email(self) -> str:
        user = await self._call("GET", ("users", "auth", "user"), pb.User)
        return user.email

    async def find_device(self, name: str) -> Device | None:
        devices = await self._call(
            "GET", ("devices",), pb.DeviceList, params=[("name", name), ("os", ""), ("select", "True")]
        )
        if len(devices.devices) == 0:
            return None
        return device_from_pb(devices.devices[0])

    async def upload_model(self, path: Path, name: str, project_id: str = "") -> str:
        # Each upload step may be repeated: a model record created twice is an unused draft, a part
        # PUT twice is the same bytes, and completing the same upload id twice is the same result.
        created = await self._call(
            "POST",
            self._scoped(project_id, "models"),
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
        with _translate("PUT", url):
            async with self._session.put(url, data=data) as resp:
                payload = await resp.read()
                _raise_for_status(resp, payload, "")
                etag = resp.headers.get("ETag")
        if not etag:
            raise HubError(f"the Hub's upload URL gave no ETag for part {index + 1}")
        return etag

    async def create_link_job(
        self, model_ids: Sequence[str], device: Device, name: str, options: str, project_id: str = ""
    ) -> str:
        link = pb.LinkJob(
            models=pb.ModelList(models=[pb.Model(model_id=m) for m in model_ids], total_query_count=len(model_ids)),
            name=name,
            device=device_to_pb(device),
        )
        if options.strip():
            link.options = options.strip()
        created = await self._call(
            "POST",
            self._scoped(project_id, "jobs"),
            pb.CreateUpdateResponse,
            body=pb.Job(link_job=link),
            params={"seed_target_model": "true"},
        )
        if not created.id:
            raise HubError(f"the Hub did not create the link job: {created.status}")
        return created.id

    async def get_job(self, job_id: str) -> Job:
        job = await self._call("GET", ("jobs", job_id), pb.Job, object_id=job_id)
        if job.WhichOneof("job") != "link_job":
            raise InvalidArgument(f"job {job_id} is a {job.WhichOneof('job') or 'unknown'} job, not a link job")
        return job_from_pb(job, refreshed_at=datetime.now(UTC))

    async def list_link_job_summaries(
        self, states: Sequence[JobState], offset: int, limit: int
    ) -> tuple[list[JobSummary], int]:
        """One page of the caller's link jobs in ``states`` (any state when empty), newest first,
        and the total count."""
        params = [("offset", str(offset))] if offset > 0 else []
        params.append(("limit", str(limit)))
        if states:
            params.append(("state", ",".join(str(int(s)) for s in states)))
        params.append(("type", "link"))
        listing = await self._call("GET", ("job_summaries",), pb.JobSummaryList, params=params)
        rows = [
            JobSummary(
                job_id=s.link_job_summary.job_id,
                state=JobState.of(s.link_job_summary.job_state),
                last_updated_time=time_from_pb(s.link_job_summary.last_updated_time),
                name=s.link_job_summary.name,
                device_name=s.link_job_summary.device_name,
                creation_time=time_from_pb(s.link_job_summary.creation_time),
            )
            for s in listing.job_summaries
            if s.WhichOneof("job") == "link_job_summary"
        ]
        return rows, listing.total_query_count

    async def set_job_name(self, job_id: str, name: str) -> None:
        await self._call(
            "PATCH", ("jobs", job_id), pb.CreateUpdateResponse, body=pb.JobPublicUpdate(name=name), object_id=job_id
        )

    async def get_sharing(self, job_id: str) -> list[str]:
        shared = await self._call("GET", ("jobs", job_id, "shared_access"), pb.SharedAccess, object_id=job_id)
        return list(shared.email)

    async def modify_sharing(self, job_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        await self._call(
            "PATCH",
            ("jobs", job_id, "shared_access"),
            pb.CreateUpdateResponse,
            body=pb.SharedAccessChange(add_email=list(add), remove_email=list(remove)),
            object_id=job_id,
        )

    async def disable_sharing(self, job_id: str) -> None:
        await self._call("DELETE", ("jobs", job_id, "shared_access"), pb.CreateUpdateResponse, object_id=job_id)

    async def get_model(self, model_id: str) -> ModelInfo:
        model = await self._call("GET", ("models", model_id), pb.Model, object_id=model_id)
        return _model_info(model, model_id)

    async def list_devices(self, name: str = "", os: str = "", attributes: Sequence[str] = ()) -> list[Device]:
        """Every device matching the filters (the request ``qai_hub.Client.get_devices`` sends)."""
        params = [("name", name), ("os", os), ("select", "False"), *(("attributes", a) for a in attributes)]
        devices = await self._call("GET", ("devices",), pb.DeviceList, params=params)
        return [device_from_pb(d) for d in devices.devices]

    async def list_models(self, offset: int, limit: int, project_id: str = "") -> list[ModelInfo]:
        """One page of the account's models, newest first (``qai_hub.Client.get_models``)."""
        params = [("offset", str(offset))] if offset > 0 else []
        params.append(("limit", str(limit)))
        listing = await self._call("GET", self._scoped(project_id, "models"), pb.ModelList, params=params)
        return [_model_info(m, m.model_id) for m in listing.models]

    async def get_model_sharing(self, model_id: str) -> list[str]:
        shared = await self._call("GET", ("models", model_id, "shared_access"), pb.SharedAccess, object_id=model_id)
        return list(shared.email)

    async def modify_model_sharing(self, model_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        await self._call(
            "PATCH",
            ("models", model_id, "shared_access"),
            pb.CreateUpdateResponse,
            body=pb.SharedAccessChange(add_email=list(add), remove_email=list(remove)),
            object_id=model_id,
        )

    async def disable_model_sharing(self, model_id: str) -> None:
        await self._call("DELETE", ("models", model_id, "shared_access"), pb.CreateUpdateResponse, object_id=model_id)

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
        with _translate("GET", url):
            async with self._session.get(url, headers=headers) as resp:
                _raise_for_status(resp, b"", "")
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


def _model_info(model: pb.Model, model_id: str) -> ModelInfo:
    return ModelInfo(
        model_id=model.model_id or model_id,
        name=model.name,
        model_type=model.model_type,
        creation_time=time_from_pb(model.creation_time),
        producer_id=model.producer_id,
    )


def _total_size(resp: aiohttp.ClientResponse, offset: int) -> int | None:
    if resp.status == 206:
        content_range = resp.headers.get("Content-Range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            return int(content_range.rsplit("/", 1)[1])
        return None if resp.content_length is None else offset + resp.content_length
    return resp.content_length


def _detail(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        detail = json.loads(text).get("detail")
        if isinstance(detail, str):
            return detail
    return text[:500]


def _raise_for_status(resp: aiohttp.ClientResponse, payload: bytes, object_id: str) -> None:
    status = resp.status
    if 200 <= status < 300:
        return
    detail = _detail(payload)
    where = f"{resp.method} {redact_url(str(resp.url))}"
    if status == 401:
        raise HubAuthError(
            "the Hub rejected the daemon's API token (401); set a valid one with "
            "`qai-hub configure --api_token <TOKEN>` (aihubd picks it up without a restart)",
            status,
        )
    if status == 404:
        what = f"'{object_id}'" if object_id else where
        raise NotFound(f"{what} was not found on the Hub. It may not exist or this account may not see it.")
    if status == 403:
        raise PermissionDenied(f"the Hub does not let this account do that: {detail or where}")
    if status == 429 or status >= 500:
        raise HubUnavailable(
            f"the Hub is unavailable ({status} on {where}); try again later",
            status,
            parse_retry_after(resp.headers.get("Retry-After")),
        )
    if status in (400, 409, 413, 422):
        raise InvalidArgument(f"the Hub refused the request: {detail or status}")
    raise HubError(f"the Hub answered {status} on {where}: {detail}", status)


@contextlib.contextmanager
def _translate(method: str, url: str, object_id: str = "") -> Iterator[None]:
    """Turn transport failures into HubUnavailable, with the URL's secrets left out."""
    try:
        yield
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        raise HubUnavailable(f"cannot reach the Hub ({method} {redact_url(url)}: {exc.__class__.__name__})") from None
