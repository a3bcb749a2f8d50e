"""Submitting link jobs: validate locally, resolve the device, upload once, create once.

A client-chosen request id makes a submit idempotent. The journal records the request before
the Hub is asked (durably), and the job id after. A retry finds the job by request id; when the
first attempt's answer was lost (a crash or a dropped connection after the Hub accepted the
create), the job is recovered from the Hub's listing by what identifies it: name, device, time,
then model ids and options. A submit without a request id gets one of its own, so the create can
be retried (as patiently as the official client retries it) without ever creating a job twice:
before each new attempt, the listing is asked whether the last one took effect.

Parity with the official ``submit_link_job``: without a name the job is named after the last input
model (its file name, or a Hub model's own name); the device is what the Hub selects for the name.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import HubUnavailable, InvalidArgument, NotFound
from ..hub.api import HubApi
from ..hub.retry import RetryPolicy
from ..model import Device, Job
from ..store.jobs import JobStore
from ..store.submissions import Submission, SubmissionJournal
from ..tracking.poller import Poller
from .devices import DeviceCatalog
from .uploads import UploadService
from .validation import check_local_model, check_model_id, check_name, check_options

__all__ = ["ModelSource", "Submitter"]

log = logging.getLogger(__name__)

QNN_FRAMEWORK = "framework:qnn"
RECOVERY_PAGE = 50
DEVICE_TTL = 600.0  # the Hub's device catalog changes rarely
CLOCK_SKEW = 120.0  # journals written before the Hub's time was kept: daemon/Hub difference tolerated
HUB_CLOCK_SLACK = 5.0  # seconds: the Hub's Date and its creation times may come from different servers
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class ModelSource:
    """One input model: a local file (absolute path) or a Hub model id."""

    path: str = ""
    model_id: str = ""


@dataclass(frozen=True)
class _Plan:
    inputs: list[Path | str]
    device_name: str
    name: str
    options: str
    project: str

    def fingerprint(self) -> str:
        body = json.dumps([[str(i) for i in self.inputs], self.device_name, self.name, self.options, self.project])
        return hashlib.sha256(body.encode()).hexdigest()


class Submitter:
    def __init__(
        self,
        hub: HubApi,
        store: JobStore,
        poller: Poller,
        uploads: UploadService,
        journal: SubmissionJournal,
        *,
        default_project: str = "",
        devices: DeviceCatalog | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._hub = hub
        self._catalog = devices or DeviceCatalog(hub)
        self._store = store
        self._poller = poller
        self._uploads = uploads
        self._journal = journal
        self._default_project = default_project
        self._devices: dict[str, tuple[float, Device]] = {}  # name -> (valid until, device)

    async def submit(
        self,
        models: Sequence[ModelSource],
        device_name: str,
        name: str = "",
        options: str = "",
        project_id: str = "",
        request_id: str = "",
    ) -> Job:
        plan = self._validate(models, device_name, name, options, project_id)
        if request_id and not _REQUEST_ID.match(request_id):
            raise InvalidArgument("a request id is 1-128 letters, digits or '_.:-' (e.g. a UUID)")
        earlier = await self._journal.get(request_id) if request_id else None
        if earlier is not None:
            if earlier.fingerprint != plan.fingerprint():
                raise InvalidArgument(f"request id {request_id!r} was already used for a different submission")
            if earlier.job_id:
                return await self._adopt(earlier.job_id)

        device = await self._device(plan.device_name)
        await self._check_model_ids([i for i in plan.inputs if isinstance(i, str)])
        model_ids = [
            await self._uploads.model_id_for(i, self._default_project) if isinstance(i, Path) else i
            for i in plan.inputs
        ]
        job_name = plan.name or await self._default_name(plan.inputs[-1])

        if earlier is not None:  # the first attempt's answer was lost: did the Hub create it?
            found = await self._recover(earlier, job_name, device, model_ids, plan.options)
            if found is not None:
                return await self._finish(earlier.request_id, found)
        entry = earlier or await self._journal.begin(
            request_id or f"aihubd-{uuid.uuid4()}", plan.fingerprint(), hub_floor=self._hub.hub_now()
        )
        job_id = await self._create(entry, model_ids, device, job_name, plan)
        job = await self._finish(entry.request_id, job_id)
        log.info("submitted link job %s (%d models, %s)", job_id, len(model_ids), device.name)
        return job

    async def _create(self, entry: Submission, model_ids: list[str], device: Device, name: str, plan: _Plan) -> str:
        """Create the Hub job, retrying while the Hub is unavailable; before each retry, the
        listing says whether the last attempt created the job after all (then that job is it)."""
        for attempt in range(self._retry.attempts):
            try:
                return await self._hub.create_link_job(model_ids, device, name, plan.options, plan.project)
            except HubUnavailable as exc:
                found = await self._recover(entry, name, device, model_ids, plan.options)
                if found is not None:
                    return found
                if attempt + 1 >= self._retry.attempts:
                    raise
                # A Retry-After pause is waited out by the shared request budget before the next call.
                if exc.retry_after is None:
                    await self._sleep(self._retry.delay(attempt))
                log.info("creating the link job failed (%s); retrying (attempt %d)", exc, attempt + 2)
        raise AssertionError("unreachable")

    async def _default_name(self, last: Path | str) -> str:
        """The official client's default job name: the last input model's name."""
        if isinstance(last, Path):
            return last.name  # the name the model is uploaded under
        return (await self._hub.get_model(last)).name

    def _validate(
        self, models: Sequence[ModelSource], device_name: str, name: str, options: str, project_id: str
    ) -> _Plan:
        if not models:
            raise InvalidArgument("a link job needs at least one input model")
        inputs = [_check_source(m) for m in models]
        keys = [str(i) for i in inputs]
        if len(set(keys)) != len(keys):
            raise InvalidArgument("all input models to a link job must be distinct")
        check_name(name, "job name")
        check_options(options)
        if not device_name.strip():
            raise InvalidArgument('a device name is required, e.g. "Snapdragon 8 Elite QRD"')
        check_name(device_name, "device name")
        project = project_id or self._default_project
        if project:
            check_model_id(project)
        return _Plan(inputs, device_name, name, options, project)

    async def _device(self, device_name: str) -> Device:
        cached = self._devices.get(device_name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        selected = await self._hub.select_devices(device_name)
        if not selected:  # another case of a real name is that device; else the closest names
            real = await self._catalog.real_name(device_name)
            selected = await self._hub.select_devices(real) if real != device_name else []
            if not selected:
                raise NotFound(f"device {device_name!r} is not available on the Hub")
        if len(selected) > 1:
            listed = "; ".join(f"{d.name!r} (OS {d.os or '?'})" for d in selected)
            raise InvalidArgument(
                f"device name {device_name!r} matches {len(selected)} Hub devices: {listed}. "
                "Give a name that matches exactly one device."
            )
        device = selected[0]
        if QNN_FRAMEWORK not in device.attributes:
            raise InvalidArgument(f"device {device.name!r} does not support QNN model input")
        self._devices[device_name] = (time.monotonic() + DEVICE_TTL, device)
        return device

    async def _check_model_ids(self, model_ids: list[str]) -> None:
        """Each Hub model id given must name a model this account sees (the Hub's create would
        only say that the POST was not found)."""
        for model_id in model_ids:
            try:
                await self._hub.get_model(model_id)
            except NotFound:
                raise NotFound(
                    f"model {model_id} was not found on the Hub (it may not exist, or this account may not see it)"
                ) from None

    async def _finish(self, request_id: str, job_id: str) -> Job:
        """Journal the job id (if a request id was given), then store and follow the job."""
        if request_id:
            await self._journal.complete(request_id, job_id)
        return await self._adopt(job_id, soon=True)

    async def _adopt(self, job_id: str, *, soon: bool = False) -> Job:
        job = await self._store.get(job_id)
        if job is None or soon:
            job = await self._hub.get_job(job_id)
            await self._store.save([job])
        self._poller.follow(job, soon=soon)
        return job

    async def _recover(
        self, entry: Submission, name: str, device: Device, model_ids: list[str], options: str
    ) -> str | None:
        """The id of a Hub job this request created whose answer was lost, if any. The listing is
        newest first: pages are read until the jobs are older than the request, by the Hub's clock."""
        # Without the Hub's time (a journal entry from before it was kept, or a Hub sending no
        # Date), the daemon's clock with a tolerance is all there is.
        hub_floor = entry.hub_floor
        oldest = hub_floor - HUB_CLOCK_SLACK if hub_floor is not None else entry.started_at - CLOCK_SKEW
        offset = 0
        while True:
            rows = await self._hub.list_link_job_summaries((), offset, RECOVERY_PAGE)
            for row in rows:
                if (
                    row.name == name
                    and row.device_name == device.name
                    and row.creation_time is not None
                    and row.creation_time.timestamp() >= oldest
                    # Another submission's job is not ours; a job only the poller adopted (it
                    # follows all of the user's jobs) may well be the one our lost create made.
                    and await self._journal.claimant(row.job_id) in (None, entry.request_id)
                ):
                    job = await self._hub.get_job(row.job_id)
                    if [m.model_id for m in job.models] == model_ids and job.options == options.strip():
                        log.info(
                            "request %s: recovered job %s created by an earlier attempt", entry.request_id, job.job_id
                        )
                        return job.job_id
            offset += len(rows)
            last = rows[-1].creation_time if rows else None
            if len(rows) < RECOVERY_PAGE or last is None or last.timestamp() < oldest:
                return None


def _check_source(source: ModelSource) -> Path | str:
    if source.path and source.model_id:
        raise InvalidArgument("an input model is either a path or a model id, not both")
    if source.model_id:
        return check_model_id(source.model_id)
    return check_local_model(source.path)
