"""Pure value types shared by every layer: jobs, states, devices, artifacts."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ArtifactType",
    "Device",
    "Job",
    "JobState",
    "JobSummary",
    "ModelInfo",
    "ModelRef",
    "S3Grant",
    "TargetFile",
]


class JobState(enum.IntEnum):
    """The Hub's job states; values equal the wire enum ``qai_hub.api.JobState``."""

    UNSPECIFIED = 0
    CREATED = 1
    DONE = 10
    FAILED = 30
    OPTIMIZING_MODEL = 50
    PROVISIONING_DEVICE = 60
    MEASURING_PERFORMANCE = 70
    RUNNING_INFERENCE = 80
    QUANTIZING_MODEL = 90
    LINKING_MODELS = 100

    @classmethod
    def of(cls, value: int) -> JobState:
        """Known states as themselves; unknown wire values read as UNSPECIFIED (still running)."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNSPECIFIED

    @property
    def terminal(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)

    @classmethod
    def in_flight_states(cls) -> tuple[JobState, ...]:
        return tuple(s for s in cls if not s.terminal)


class ArtifactType(enum.IntEnum):
    """Values equal the wire enum ``qai_hub.api.JobArtifactType``."""

    UNSPECIFIED = 0
    DEVICE_LOG = 1
    HUB_LOG = 5
    PROFILE_TRACE = 6
    NETRON_VIZ_ARCHIVE = 7
    QHAS_SUMMARY = 8


LOG_TYPES: tuple[ArtifactType, ...] = (ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG)


@dataclass(frozen=True)
class Device:
    name: str
    os: str = ""
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRef:
    model_id: str
    name: str = ""


@dataclass(frozen=True)
class Job:
    """The daemon's view of one Hub link job."""

    job_id: str
    name: str
    state: JobState
    message: str
    creation_time: datetime
    last_updated_time: datetime | None
    device: Device
    models: tuple[ModelRef, ...]
    options: str = ""
    project_id: str = ""
    target_model_id: str = ""
    available_artifacts: tuple[ArtifactType, ...] = ()
    # When the daemon last read this job from the Hub (not a Hub field).
    refreshed_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def same_observation(self, other: Job) -> bool:
        """True when ``other`` shows nothing new about the job (ignoring when it was read)."""
        return _observed(self) == _observed(other)


def _observed(job: Job) -> tuple[object, ...]:
    return (
        job.name,
        job.state,
        job.message,
        job.last_updated_time,
        job.target_model_id,
        job.available_artifacts,
    )


@dataclass(frozen=True)
class S3Grant:
    """Short-lived AWS credentials for one S3 object, as the Hub hands them out (``S3Credentials``).

    The three keys are secrets like the Hub token: never logged, returned or put in an environment.
    """

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    bucket: str
    key: str
    region: str = ""
    use_transfer_acceleration: bool = False

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a log line or an error text."""
        return tuple(s for s in (self.access_key_id, self.secret_access_key, self.session_token) if s)


@dataclass(frozen=True)
class TargetFile:
    """A downloadable file the Hub offers: its name, and a pre-signed URL or S3 credentials for it.

    ``refresh`` asks the Hub again for the same file (pre-signed URLs and credentials expire).
    """

    url: str = field(repr=False)
    filename: str
    credentials: S3Grant | None = field(default=None, repr=False)
    refresh: Callable[[], Awaitable[TargetFile]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ModelInfo:
    """A Hub model's description (the target model of a link job, typically)."""

    model_id: str
    name: str
    model_type: int
    creation_time: datetime | None
    # The job that produced it (a link job's target model), else "".
    producer_id: str = ""


@dataclass(frozen=True)
class JobSummary:
    """One row of the Hub's job-summaries listing: enough to tell whether a job changed."""

    job_id: str
    state: JobState
    last_updated_time: datetime | None
    name: str = ""
    device_name: str = ""
    creation_time: datetime | None = None
