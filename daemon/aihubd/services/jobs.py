"""Link jobs: submit, read the cached view, watch changes, adopt jobs the daemon has not seen."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, NotFound
from ..hub.api import HubApi
from ..model import Job, JobState
from ..store.jobs import JobStore
from ..tracking.notifier import Notifier
from ..tracking.poller import CycleResult, Poller
from .uploads import UploadService
from .validation import check_job_id, check_local_model, check_model_id, check_name, check_options

__all__ = ["JobService", "ModelSource", "ShuttingDown"]

log = logging.getLogger(__name__)

QNN_FRAMEWORK = "framework:qnn"
DEFAULT_LIST = 50
MAX_LIST = 1000


class ShuttingDown(Exception):
    """The daemon is stopping; the client should reconnect later."""


@dataclass(frozen=True)
class ModelSource:
    """One input model: a local file (absolute path) or a Hub model id."""

    path: str = ""
    model_id: str = ""


class JobService:
    def __init__(self, hub: HubApi, store: JobStore, notifier: Notifier, poller: Poller, uploads: UploadService,
                 *, default_project: str = "", keepalive: float = 30.0) -> None:
        self._hub = hub
        self._uploads = uploads
        self._store = store
        self._notifier = notifier
        self._poller = poller
        self._default_project = default_project
        self._keepalive = keepalive

    async def submit(self, models: Sequence[ModelSource], device_name: str, name: str = "",
                     options: str = "", project_id: str = "") -> Job:
        """Validate everything locally, resolve the device, upload, then create the Hub job."""
        if not models:
            raise InvalidArgument("a link job needs at least one input model")
        inputs = [self._check_source(m) for m in models]
        keys = [str(i) for i in inputs]
        if len(set(keys)) != len(keys):
            raise InvalidArgument("all input models to a link job must be distinct")
        check_name(name, "job name")
        check_options(options)
        if not device_name.strip():
            raise InvalidArgument("a device name is required, e.g. \"Snapdragon 8 Elite QRD\"")
        check_name(device_name, "device name")
        project = project_id or self._default_project
        if project:
            check_model_id(project)

        device = await self._hub.find_device(device_name)
        if device is None:
            raise NotFound(f"device {device_name!r} is not available on the Hub; "
                           "check the name (e.g. \"Snapdragon 8 Elite QRD\")")
        if QNN_FRAMEWORK not in device.attributes:
            raise InvalidArgument(f"device {device.name!r} does not support QNN model input")

        model_ids: list[str] = []
        for source in inputs:
            if isinstance(source, Path):
                model_ids.append(await self._uploads.model_id_for(source, self._default_project))
            else:
                model_ids.append(source)
        job_name = name or (inputs[-1].name if isinstance(inputs[-1], Path) else "")
        job_id = await self._hub.create_link_job(model_ids, device, job_name, options, project)
        job = await self._hub.get_job(job_id)
        await self._store.save([job])
        self._poller.follow(job, soon=True)
        log.info("submitted link job %s (%d models, %s)", job_id, len(model_ids), device.name)
        return job

    @staticmethod
    def _check_source(source: ModelSource) -> Path | str:
        if source.path and source.model_id:
            raise InvalidArgument("an input model is either a path or a model id, not both")
        if source.model_id:
            return check_model_id(source.model_id)
        return check_local_model(source.path)

    async def get(self, job_id: str) -> Job:
        """The daemon's view; a job it has never seen is read from the Hub once and tracked."""
        check_job_id(job_id)
        job = await self._store.get(job_id)
        if job is None:
            job = await self._hub.get_job(job_id)
            await self._store.save([job])
            self._poller.follow(job, soon=False)
        return job

    async def track(self, job_id: str) -> Job:
        """Adopt a job submitted elsewhere: read it from the Hub now and poll it from then on."""
        check_job_id(job_id)
        job = await self._hub.get_job(job_id)
        await self._store.save([job])
        self._poller.follow(job, soon=False)
        return job

    async def untrack(self, job_id: str) -> bool:
        check_job_id(job_id)
        self._poller.forget(job_id)
        return await self._store.delete(job_id)

    async def list(self, states: Sequence[JobState], name_contains: str, limit: int, offset: int
                   ) -> tuple[list[Job], int]:
        check_name(name_contains, "name filter")
        if limit > MAX_LIST:
            raise InvalidArgument(f"limit {limit} is too large; at most {MAX_LIST} jobs per page")
        return await self._store.list(states, name_contains, limit or DEFAULT_LIST, offset)

    async def set_name(self, job_id: str, name: str) -> Job:
        """Rename on the Hub, then reflect it in the daemon's cache for every client at once."""
        check_job_id(job_id)
        if not name.strip():
            raise InvalidArgument("a job name must not be empty")
        check_name(name, "job name")
        job = await self.get(job_id)
        await self._hub.set_job_name(job_id, name)
        renamed = dataclasses.replace(job, name=name)
        await self._store.save([renamed])
        self._notifier.ring([job_id])
        return renamed

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The current view first, then each change, ending after a terminal state."""
        if not (await self.get(job_id)).terminal:
            self._poller.nudge()  # a new waiter wants fresh news (debounced in the poller)
        last: Job | None = None
        with self._notifier.subscribe(job_id) as bell:
            while True:
                bell.clear()
                job = self._store.cached(job_id) or await self.get(job_id)
                if last is None or not last.same_observation(job):
                    last = job
                    yield job
                if job.terminal:
                    return
                if self._notifier.closed:
                    raise ShuttingDown("aihubd is shutting down; wait again once it is back")
                try:
                    await asyncio.wait_for(bell.wait(), timeout=self._keepalive)
                except TimeoutError:
                    pass

    async def wait_finished(self, job_id: str) -> Job:
        """Block until the job is terminal; returns it."""
        job: Job | None = None
        async for job in self.watch(job_id):
            pass
        assert job is not None and job.terminal
        return job

    async def refresh(self) -> CycleResult:
        return await self._poller.poll_now()

    async def counts(self) -> tuple[int, int]:
        """(jobs tracked, jobs in flight)."""
        return await self._store.count(), len(self._store.in_flight())
