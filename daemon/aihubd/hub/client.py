"""The Hub's REST + protobuf protocol over one reused aiohttp session.

Every HTTP failure is translated to an ``aihubd.errors`` kind in ``_translate`` (one place).
Idempotent reads are retried here (the only retry layer); creates and uploads are not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from google.protobuf.message import DecodeError, Message
from qai_hub import public_api_pb2 as pb

from .. import __version__
from ..errors import AihubdError, HubAuthError, HubError, HubUnavailable, InvalidArgument, NotFound, PermissionDenied
from ..model import ArtifactType, Device, Job, JobState, JobSummary, ModelInfo, TargetFile
from .budget import RequestBudget
from .convert import device_from_pb, device_to_pb, job_from_pb, time_from_pb
from .credentials import HubCredentials
from .retry import RetryPolicy, parse_retry_after, with_retries
from .transfers import HubTransfers

__all__ = ["AiohttpHubClient", "HubHealth", "redact_url"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
PROTOBUF = "application/x-protobuf"
CREDENTIAL_RECHECK_SECONDS = 2.0


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
        self._transfers = HubTransfers(self._call, self._session, self._retry)

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
        return await self._transfers.upload_model(path, name, project_id)

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
        return ModelInfo(
            model_id=model.model_id or model_id,
            name=model.name,
            model_type=model.model_type,
            creation_time=time_from_pb(model.creation_time),
        )

    async def target_model_file(self, model_id: str) -> TargetFile:
        return await self._transfers.target_model_file(model_id)

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        return await self._transfers.artifact_files(job_id, artifact_type)

    async def download(self, target: TargetFile, dest: Path) -> tuple[int, str]:
        return await self._transfers.download(target, dest)


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
