"""``JobView``: a link job's attributes as the daemon last reported them (no calls).

Shared by ``LinkJob`` (blocking) and ``AsyncLinkJob`` (asyncio), which add the methods (by way
of ``job_calls.JobCalls``, where the calls are built).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .kinds import JobType
from .status import JobStatus
from .values import ArtifactType, Device, ModelRef

__all__ = ["JobView"]


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
        self.job_id = message.job_id
        self.name = message.name
        self.date = datetime.fromtimestamp(message.creation_time.seconds)
        self.device = Device.from_pb(message.device)
        self.models = [self._model(ModelRef.from_pb(model)) for model in message.models]
        self.options = message.options
        self.project_id = message.project_id or None
        self._url = message.url
        self.target_model_id = message.target_model_id or None
        self.available_artifacts = [
            ArtifactType(value) for value in message.available_artifacts if value in ArtifactType._value2member_map_
        ]
        self.stale = message.stale
        self.last_refresh_time = (
            datetime.fromtimestamp(message.last_refresh_time.seconds) if message.HasField("last_refresh_time") else None
        )
        self._status = JobStatus(message.state, message.message)

    def _model(self, ref: ModelRef) -> Any:
        """What ``models`` holds for each input (``LinkJob``: a ``Model``; here the reference)."""
        return ref
