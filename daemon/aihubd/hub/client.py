"""The Hub's REST + protobuf protocol over one reused aiohttp session.

Every request carries the official client's identity headers (``identity.py``) and, on the API,
its ``Authorization: token ...`` and ``Content-Type`` headers; query keys and values are the
official client's for the same operation. Every HTTP failure is translated to an
``aihubd.errors`` kind in ``_raise_for_status`` / ``_translate`` (one place): every aiohttp
exception, and an answer the daemon cannot use (not protobuf, unreadable, larger than
``MAX_API_BODY`` — read incrementally, never held past it — or more than ``MAX_REDIRECTS``
redirects, each hop taken from the request budget), is Hub trouble: ``HubUnavailable``. Reads,
renames and the model-record create are retried here, as the official client retries them; a
401 parks all traffic in the ``AuthGate`` until a re-probe of ``users/auth/user`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from google.protobuf.message import DecodeError, Message
from qai_hub import public_api_pb2 as pb

from ..errors import (
    AihubdError,
    HubAuthError,
    HubError,
    HubPaused,
    HubProtocolTooOld,
    HubUnavailable,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from ..model import ArtifactType, Device, Job, JobState, JobSummary, ModelInfo, TargetFile
from ..pinned_file import PinnedFile
from .auth_gate import AuthGate, AuthState
from .budget import RequestBudget
from .convert import device_from_pb, device_to_pb, job_from_pb, time_from_pb
from .credentials import HubCredentials
from .hub_clock import HubClock
from .identity import PROTOCOL_VERSION, identity_headers
from .retry import RetryPolicy, parse_retry_after, with_retries
from .transfers import HubTransfers

__all__ = ["AiohttpHubClient", "HubHealth", "HubTraffic", "redact_url"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
PROTOBUF = "application/x-protobuf"
CREDENTIAL_RECHECK_SECONDS = 2.0
MAX_API_BODY = 8 * 1024 * 1024  # the largest API answer read, in bytes: a larger one is a protocol error
MAX_REDIRECTS = 3  # redirect hops followed per API request (each one costs a budget token)
READ_CHUNK = 64 * 1024


def redact_url(url: str) -> str:
    """A URL without its query string (pre-signed URLs carry their signature there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class HubHealth:
    """The outcome of the last Hub API call."""

    reachable: bool
    error: str = ""


@dataclass(frozen=True)
class HubTraffic:
    """Whether Hub traffic flows, for ``daemon status``: seconds from now (None: not in force)."""

    auth: AuthState
    auth_parked_for: float | None  # seconds since the 401 parked traffic
    auth_next_probe_in: float | None  # seconds until the next users/auth/user probe
    paused_for: float | None  # seconds left of a Retry-After pause


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
        auth_gate: AuthGate | None = None,
    ) -> None:
        self._creds = credentials
        self._budget = budget or RequestBudget()
        self._reload_credentials = reload_credentials
        self._last_reload = float("-inf")
        self._auth = auth_gate or AuthGate()
        self._probe_lock = asyncio.Lock()
        self._email = ""  # the account the token belongs to (users/auth/user), once known
        self.health: HubHealth | None = None  # None until the first API call
        self._retry = retry or RetryPolicy()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout),
            headers=identity_headers(),
            raise_for_status=False,
        )
        self._transfers = HubTransfers(self._call, self._session, self._retry)
        self.hub_clock = HubClock()  # the Hub's time, from the Date of its answers

    async def close(self) -> None:
        await self._session.close()

    def failing(self) -> bool:
        """Whether the last Hub API exchange failed (unreachable, 401, an unusable answer)."""
        return self.health is not None and not self.health.reachable

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

        async def once() -> M:
            try:
                await self._admit()
                return await self._send(method, segments, reply, body=body, params=params, object_id=object_id)
            except HubPaused:  # refused before asking: the Hub's health is what it was
                raise
            except HubError as exc:  # unreachable, 401, 426, an unusable answer: also when retried
                self.health = HubHealth(reachable=False, error=str(exc))
                if isinstance(exc, HubUnavailable) and exc.retry_after is not None:
                    self._budget.check_pause()  # a long pause: an on-demand call fails now, not after it
                raise

        if retry if retry is not None else method in ("GET", "DELETE"):
            result = await with_retries(once, self._retry, sleep=self._budget.sleep)
        else:
            result = await once()
        self.health = HubHealth(reachable=True)
        return result

    async def _send(
        self,
        method: str,
        segments: Sequence[str],
        reply: type[M],
        *,
        body: Message | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        object_id: str = "",
    ) -> M:
        """One HTTP exchange, its failure translated; a 401 parks traffic, a Retry-After pauses it."""
        url = self._url(*segments)
        started = time.monotonic()
        data = body.SerializeToString() if body is not None else None
        headers = {**self._creds.auth_headers(), "Content-Type": PROTOBUF}
        with _translate(method, url, object_id):
            async with self._request(method, url, data=data, params=params, headers=headers) as resp:
                payload = await _read_capped(resp, method, url)
                self.hub_clock.observe(resp.headers.get("Date"))
                log.debug("%s %s -> %d in %.3fs", method, redact_url(url), resp.status, time.monotonic() - started)
                try:
                    _raise_for_status(resp, payload, object_id)
                except HubAuthError as exc:
                    self._auth.rejected(str(exc), self._budget.clock())
                    raise
                except HubUnavailable as exc:
                    if exc.retry_after is not None:
                        self._budget.retry_after(exc.retry_after)
                    raise
                if resp.headers.get("Content-Type") != PROTOBUF:
                    raise HubUnavailable(
                        f"the Hub answered {method} {redact_url(url)} with "
                        f"{resp.headers.get('Content-Type')!r}, not protobuf; try again later",
                        resp.status,
                    )
                message = reply()
                try:
                    message.ParseFromString(payload)
                except DecodeError:
                    raise HubUnavailable(
                        f"the Hub sent an unreadable {reply.__name__} for {method} {redact_url(url)}; try again later",
                        resp.status,
                    ) from None
                return message

    @contextlib.asynccontextmanager
    async def _request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None,
        params: dict[str, str] | list[tuple[str, str]] | None,
        headers: dict[str, str],
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """``session.request`` following at most ``MAX_REDIRECTS`` redirects, each hop taken
        from the request budget (it is a request too), also when there were too many."""
        request = self._session.request(
            method, url, data=data, params=params, headers=headers, max_redirects=MAX_REDIRECTS + 1
        )  # aiohttp gives up when the hop count reaches max_redirects
        try:
            async with request as resp:
                await self._charge_hops(len(resp.history))
                yield resp
        except aiohttp.TooManyRedirects as exc:
            await self._charge_hops(len(exc.history) - 1)  # every answer was a redirect; the first was admitted
            raise

    async def _charge_hops(self, hops: int) -> None:
        for _ in range(hops):
            await self._budget.acquire()

    async def _admit(self) -> None:
        """Take a token from the shared budget. While a 401 parks traffic, fail fast — unless a
        re-probe of ``users/auth/user`` is due (or the credentials changed) and it answers."""
        if self._auth.parked:
            self._look_for_new_credentials()
            async with self._probe_lock:  # one probe at a time; the others see its outcome
                if self._auth.probe_due(self._budget.clock()):
                    await self._probe()
            if self._auth.parked:
                raise HubAuthError(self._auth.error, 401)
        await self._budget.acquire()

    def use_credentials(self, fresh: HubCredentials) -> None:
        """Send ``fresh`` from the next request on (SIGHUP re-read them); lifts a 401 park."""
        self._creds = fresh
        self._email = ""  # the new token may belong to another account
        self._auth.credentials_changed(self._budget.clock())

    async def _probe(self) -> None:
        await self._budget.acquire()
        try:
            user = await self._send("GET", ("users", "auth", "user"), pb.User)
        except HubAuthError:
            log.info("the Hub still rejects the token; next probe in %.0fs", self._next_probe_in() or 0.0)
            return
        except (HubUnavailable, HubError) as exc:
            self._auth.probe_failed(self._budget.clock())
            log.info("cannot re-probe the Hub's authentication: %s", exc)
            return
        self._auth.resumed()
        self._email = user.email
        log.info("the Hub accepts the token again (%s); resuming Hub traffic", user.email or "account unknown")

    def _look_for_new_credentials(self) -> None:
        """Re-read the credentials (at most every few seconds); a change makes a probe due now."""
        if self._reload_credentials is None:
            return
        now = self._budget.clock()
        if now - self._last_reload < CREDENTIAL_RECHECK_SECONDS:
            return
        self._last_reload = now
        try:
            fresh = self._reload_credentials()
        except AihubdError:
            return
        if fresh != self._creds:
            log.info("new Hub credentials from %s; probing them", fresh.source)
            self._creds = fresh
            self._email = ""  # the new token may belong to another account
            self._auth.credentials_changed(now)

    def _next_probe_in(self) -> float | None:
        state = self._auth.state()
        return None if state.next_probe is None else max(0.0, state.next_probe - self._budget.clock())

    def traffic(self) -> HubTraffic:
        """Whether Hub traffic is parked by a 401 or paused by a Retry-After, for ``daemon status``."""
        now = self._budget.clock()
        state = self._auth.state()
        paused = self._budget.paused_until
        return HubTraffic(
            auth=state,
            auth_parked_for=None if state.since is None else now - state.since,
            auth_next_probe_in=self._next_probe_in(),
            paused_for=None if paused is None else paused - now,
        )

    # -- HubApi -----------------------------------------------------------------------------

    @property
    def known_email(self) -> str:
        """The account's email if already known ("" otherwise); never asks the Hub."""
        return self._email

    def hub_now(self) -> float | None:
        return self.hub_clock.now()

    async def get_auth_user_email(self) -> str:
        """The account's email: asked once per set of credentials (a re-probe refreshes it)."""
        if not self._email:
            user = await self._call("GET", ("users", "auth", "user"), pb.User)
            self._email = user.email
        return self._email

    async def select_devices(self, name: str) -> list[Device]:
        """What the Hub selects for a device name (``select=True``, as the official client's submit
        asks): normally 0 or 1 devices; the caller decides what several mean."""
        devices = await self._call(
            "GET", ("devices",), pb.DeviceList, params=[("name", name), ("os", ""), ("select", "True")]
        )
        return [device_from_pb(d) for d in devices.devices]

    async def upload_model(self, path: Path | PinnedFile, name: str, project_id: str = "") -> str:
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

    async def list_link_job_summaries(self, states: Sequence[JobState], offset: int, limit: int) -> list[JobSummary]:
        """One page of this account's link jobs in ``states`` (any state when empty), newest first.

        ``creator`` is the token's account: without it the Hub lists the whole organization's
        jobs. The Hub's ``total_query_count`` is not returned (the official client never reads
        it; callers page while a page comes back full)."""
        creator = await self.get_auth_user_email()
        if not creator:
            raise HubError("the Hub did not say which account the token belongs to; cannot list only its jobs")
        params = [("offset", str(offset))] if offset > 0 else []
        params.append(("limit", str(limit)))
        params.append(("creator", creator))
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
        return rows

    async def set_job_name(self, job_id: str, name: str) -> None:
        await self._call(  # retried, as the official client retries set_job_name (the same name twice is one)
            "PATCH",
            ("jobs", job_id),
            pb.CreateUpdateResponse,
            body=pb.JobPublicUpdate(name=name),
            object_id=job_id,
            retry=True,
        )

    async def get_sharing(self, job_id: str) -> list[str]:
        return await self._shared_access("jobs", job_id)

    async def modify_sharing(self, job_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        await self._change_shared_access("jobs", job_id, add, remove)

    async def disable_sharing(self, job_id: str) -> None:
        await self._disable_shared_access("jobs", job_id)

    # Jobs and models share one sharing protocol: <kind>/<id>/shared_access/.

    async def _shared_access(self, kind: str, object_id: str) -> list[str]:
        shared = await self._call("GET", (kind, object_id, "shared_access"), pb.SharedAccess, object_id=object_id)
        return list(shared.email)

    async def _change_shared_access(self, kind: str, object_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        await self._call(
            "PATCH",
            (kind, object_id, "shared_access"),
            pb.CreateUpdateResponse,
            body=pb.SharedAccessChange(add_email=list(add), remove_email=list(remove)),
            object_id=object_id,
        )

    async def _disable_shared_access(self, kind: str, object_id: str) -> None:
        await self._call("DELETE", (kind, object_id, "shared_access"), pb.CreateUpdateResponse, object_id=object_id)

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
        return await self._shared_access("models", model_id)

    async def modify_model_sharing(self, model_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        await self._change_shared_access("models", model_id, add, remove)

    async def disable_model_sharing(self, model_id: str) -> None:
        await self._disable_shared_access("models", model_id)

    async def target_model_file(self, model_id: str) -> TargetFile:
        return await self._transfers.target_model_file(model_id)

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        return await self._transfers.artifact_files(job_id, artifact_type)

    async def download(self, target: TargetFile, dest: Path) -> tuple[int, str]:
        return await self._transfers.download(target, dest)


def _model_info(model: pb.Model, model_id: str) -> ModelInfo:
    return ModelInfo(
        model_id=model.model_id or model_id,
        name=model.name,
        model_type=model.model_type,
        creation_time=time_from_pb(model.creation_time),
        producer_id=model.producer_id,
    )


def _detail(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        detail = json.loads(text).get("detail")
        if isinstance(detail, str):
            return detail
    return text[:500]


async def _read_capped(resp: aiohttp.ClientResponse, method: str, url: str) -> bytes:
    """The body, read chunk by chunk and given up (connection closed) past ``MAX_API_BODY``."""
    body = bytearray()
    declared = resp.content_length
    if declared is None or declared <= MAX_API_BODY:
        async for chunk in resp.content.iter_chunked(READ_CHUNK):
            body += chunk
            if len(body) > MAX_API_BODY:
                break
    if len(body) > MAX_API_BODY or (declared is not None and declared > MAX_API_BODY):
        resp.close()
        raise HubUnavailable(
            f"the Hub's answer to {method} {redact_url(url)} is larger than {MAX_API_BODY // 2**20} MiB "
            "(no API answer is): a protocol error; try again later",
            resp.status,
        )
    return bytes(body)


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
    if status == 426:
        raise HubProtocolTooOld(
            f"the Hub requires a newer client protocol than qai-hub {PROTOCOL_VERSION} (426 on {where})"
            + (f": {detail}" if detail else "")
            + "; update aihubd to a release that speaks the Hub's current protocol",
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
    if 300 <= status < 400:  # a redirect aiohttp could not follow (no usable Location)
        raise HubUnavailable(f"the Hub answered {status} on {where} without a usable redirect; try again later", status)
    # Any other status is no answer the Hub gives: Hub trouble (UNAVAILABLE with the reason), not INTERNAL.
    raise HubUnavailable(f"the Hub answered {status} on {where}: {detail}; try again later", status)


@contextlib.contextmanager
def _translate(method: str, url: str, object_id: str = "") -> Iterator[None]:
    """Turn every aiohttp failure (and a timeout) into HubUnavailable, with the URL's secrets left out."""
    where = f"{method} {redact_url(url)}"
    try:
        yield
    except aiohttp.TooManyRedirects:
        raise HubUnavailable(f"the Hub redirected {where} more than {MAX_REDIRECTS} times; try again later") from None
    except aiohttp.ClientPayloadError as exc:
        raise HubUnavailable(f"the Hub cut its answer to {where} short ({exc.__class__.__name__})") from None
    except aiohttp.InvalidURL as exc:  # e.g. a redirect to a URL that is none
        raise HubUnavailable(f"an invalid URL on the way to {where} ({exc.__class__.__name__})") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HubUnavailable(f"cannot reach the Hub ({where}: {exc.__class__.__name__})") from None
