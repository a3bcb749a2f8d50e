"""``JobView``: a link job's attributes as the daemon last reported them (no calls).

Shared by ``LinkJob`` (blocking) and ``AsyncLinkJob`` (asyncio), which add the methods (by way
of ``job_calls.JobCalls``, where the calls are built). ``JobValues`` is a Job message turned into
the client's values once; the shared watch stream hands the same one to every wait on the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .kinds import JobType
from .status import JobStatus
from .values import ArtifactType, Device, ModelRef

__all__ = ["JobValues", "JobView", "job_values"]


@dataclass(frozen=True, slots=True)
class JobValues:
    """A Job message as the values ``JobView`` shows (immutable: one is shared by many views).

    ``refreshed`` is ``last_refresh_time`` as (seconds, nanos), which orders two views of a job.
    """

    job_id: str
    name: str
    date: datetime
    device: Device
    model_refs: tuple[ModelRef, ...]
    options: str
    project_id: str | None
    url: str
    target_model_id: str | None
    available_artifacts: tuple[ArtifactType, ...]
    stale: bool
    last_refresh_time: datetime | None
    status: JobStatus
    refreshed: tuple[int, int]


def job_values(message: pb.Job) -> JobValues:
    """The values of ``message``, converted once."""
    refreshed = message.last_refresh_time
    return JobValues(
        job_id=message.job_id,
        name=message.name,
        date=datetime.fromtimestamp(message.creation_time.seconds),
        device=Device.from_pb(message.device),
        model_refs=tuple(ModelRef.from_pb(model) for model in message.models),
        options=message.options,
        project_id=message.project_id or None,
        url=message.url,
        target_model_id=message.target_model_id or None,
        available_artifacts=tuple(
            ArtifactType(value) for value in message.available_artifacts if value in ArtifactType._value2member_map_
        ),
        stale=message.stale,
        last_refresh_time=datetime.fromtimestamp(refreshed.seconds) if message.HasField("last_refresh_time") else None,
        status=JobStatus(message.state, message.message),
        refreshed=(refreshed.seconds, refreshed.nanos),
    )


class JobView:
    """The attributes of ``qai_hub.LinkJob``, plus what the daemon knows about the job.

    ``job_id``, ``name``, ``date`` (local time, like the official client), ``device``, ``models``,
    ``options``, ``project_id``, ``url``, ``job_type`` (always ``"link"``), ``verbose`` and
    ``hub_version`` are the official ones (``hub_version`` is ``""``: the daemon does not keep
    the Hub's version string). ``target_model_id``,
    ``available_artifacts``, ``stale`` (the daemon could not reach the Hub at its last attempt)
    and ``last_refresh_time`` are extras.
    """

    job_id: str
    name: str
    date: datetime
    device: Device
    models: list[Any]
    options: str
    project_id: str | None
    target_model_id: str | None
    available_artifacts: list[ArtifactType]
    stale: bool
    last_refresh_time: datetime | None

    hub_version = ""
    _model_refs: tuple[ModelRef, ...] | None = None  # what ``models`` was made from
    _artifacts: tuple[ArtifactType, ...] | None = None  # what ``available_artifacts`` was made from

    def __init__(self, message: pb.Job, verbose: bool = False) -> None:
        self.verbose = verbose
        self._url = ""
        self._status = JobStatus(pb.JOB_STATE_UNSPECIFIED)
        self._apply(message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job_id={self.job_id!r}, name={self.name!r}, status={self._status.code!r})"

    @property
    def job_type(self) -> str:
        """``"link"``, like ``qai_hub``'s ``Job.job_type`` (the ``JobType`` display name)."""
        return JobType.LINK.display_name

    @property
    def url(self) -> str:
        """The job's page on the Hub website."""
        return self._url

    @property
    def last_status(self) -> JobStatus:
        """The status from the last answer of the daemon (no call)."""
        return self._status

    def _apply(self, message: pb.Job) -> None:
        self._adopt(job_values(message))

    def _adopt(self, values: JobValues) -> None:
        """Show ``values``. ``models`` and ``available_artifacts`` are new lists only when they
        change: a thousand waits on a job each given two new lists per change wake the garbage
        collector."""
        self.job_id = values.job_id
        self.name = values.name
        self.date = values.date
        self.device = values.device
        if values.model_refs != self._model_refs:
            self._model_refs = values.model_refs
            self.models = [self._model(ref) for ref in values.model_refs]
        self.options = values.options
        self.project_id = values.project_id
        self._url = values.url
        self.target_model_id = values.target_model_id
        if values.available_artifacts != self._artifacts:
            self._artifacts = values.available_artifacts
            self.available_artifacts = list(values.available_artifacts)
        self.stale = values.stale
        self.last_refresh_time = values.last_refresh_time
        self._status = values.status

    def _model(self, ref: ModelRef) -> Any:
        """What ``models`` holds for each input (``LinkJob``: a ``Model``; here the reference)."""
        return ref
