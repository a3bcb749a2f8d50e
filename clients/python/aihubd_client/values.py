"""Small immutable values the client returns, built from the daemon's messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Literal

from aihubd_api.v1 import aihubd_pb2 as pb

from .kinds import JobType
from .status import JobStatus

__all__ = [
    "ArtifactType",
    "DaemonInfo",
    "Device",
    "JobArtifactType",
    "LinkJobResult",
    "LinkJobSummary",
    "ModelChunk",
    "ModelRef",
    "RefreshResult",
    "TargetModel",
]


class ArtifactType(IntEnum):
    """Job artifact types: the members and values of ``qai_hub.JobArtifactType`` (the wire's).

    Like the official client, types it does not know (``NETRON_VIZ_ARCHIVE``, unspecified)
    are left out of ``LinkJob.get_available_artifacts()``.
    """

    DEVICE_LOG = pb.ARTIFACT_TYPE_DEVICE_LOG
    HUB_LOG = pb.ARTIFACT_TYPE_HUB_LOG
    PROFILE_TRACE = pb.ARTIFACT_TYPE_PROFILE_TRACE
    QHAS_SUMMARY = pb.ARTIFACT_TYPE_QHAS_SUMMARY


# The official name, so ``from aihubd_client import JobArtifactType`` reads like qai_hub code.
JobArtifactType = ArtifactType


@dataclass(frozen=True)
class Device:
    """A Hub device, like ``qai_hub.Device(name, os, attributes)``; only the name is sent on a
    submit (the daemon resolves it). ``attributes`` may be one string or a list; kept as a tuple."""

    name: str = ""
    os: str = ""
    attributes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        attributes: Any = self.attributes
        if isinstance(attributes, str):
            attributes = [attributes]
        object.__setattr__(self, "attributes", tuple(attributes))

    @classmethod
    def from_pb(cls, message: pb.Device) -> Device:
        return cls(message.name, message.os, tuple(message.attributes))


@dataclass(frozen=True)
class ModelRef:
    """A model on the Hub, by id (``name`` may be empty)."""

    model_id: str
    name: str = ""

    @classmethod
    def from_pb(cls, message: pb.ModelRef) -> ModelRef:
        return cls(message.model_id, message.name)


@dataclass(frozen=True)
class DaemonInfo:
    """What the daemon says about itself."""

    version: str
    hub_url: str
    web_url: str
    hub_kind: str
    tracked_jobs: int
    in_flight_jobs: int
    hub_reachable: bool
    account_email: str
    cache_bytes: int
    hub_error: str
    pid: int = 0
    socket_path: str = ""
    uptime_seconds: float = 0.0
    token_source: str = ""
    # Only with the embedded emulator: its (loopback test double's) token, for the official client.
    emulator_token: str = ""
    state_dir: str = ""
    # The qai-hub protocol the daemon speaks; "ok" or "parked-for-auth" (a 401 stopped Hub traffic;
    # re-probed with backoff); times as ISO-8601 UTC strings, "" when not in force.
    hub_protocol_version: str = ""
    hub_auth_state: str = ""
    hub_auth_parked_since: str = ""
    hub_auth_next_probe: str = ""
    hub_paused_until: str = ""
    # Server streams open now: WatchJobs feeds (one per client process's waits, and each watch),
    # and WaitJob streams (clients that wait job by job).
    watch_streams: int = 0
    wait_streams: int = 0

    @classmethod
    def from_pb(cls, message: pb.DaemonInfo) -> DaemonInfo:
        return cls(
            version=message.version,
            hub_url=message.hub_url,
            web_url=message.web_url,
            hub_kind=message.hub_kind,
            tracked_jobs=message.tracked_jobs,
            in_flight_jobs=message.in_flight_jobs,
            hub_reachable=message.hub_reachable,
            account_email=message.account_email,
            cache_bytes=message.cache_bytes,
            hub_error=message.hub_error,
            pid=message.pid,
            socket_path=message.socket_path,
            uptime_seconds=message.uptime_seconds,
            token_source=message.token_source,
            emulator_token=message.emulator_token,
            state_dir=message.state_dir,
            hub_protocol_version=message.hub_protocol_version,
            hub_auth_state=message.hub_auth_state,
            hub_auth_parked_since=_iso(message, "hub_auth_parked_since"),
            hub_auth_next_probe=_iso(message, "hub_auth_next_probe"),
            hub_paused_until=_iso(message, "hub_paused_until"),
            watch_streams=message.watch_streams,
            wait_streams=message.wait_streams,
        )


_TimeField = Literal["hub_auth_parked_since", "hub_auth_next_probe", "hub_paused_until"]


def _iso(message: pb.DaemonInfo, field_name: _TimeField) -> str:
    if not message.HasField(field_name):
        return ""
    stamp = getattr(message, field_name)
    return str(stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class RefreshResult:
    """One poller cycle: jobs asked about, and how many of them changed."""

    polled: int
    changed: int


@dataclass(frozen=True)
class TargetModel:
    """The model a link job produced (``LinkJob.get_target_model()``)."""

    model_id: str
    name: str
    model_type: int
    date: datetime | None
    url: str
    filename: str

    @classmethod
    def from_pb(cls, message: pb.TargetModel) -> TargetModel:
        date = datetime.fromtimestamp(message.creation_time.seconds) if message.HasField("creation_time") else None
        return cls(
            model_id=message.model_id,
            name=message.name,
            model_type=message.model_type,
            date=date,
            url=message.url,
            filename=message.filename,
        )


@dataclass(frozen=True)
class ModelChunk:
    """A piece of a target model streamed by the daemon; the first one names the whole file."""

    data: bytes
    # Set on the first chunk only: the Hub's filename and the total size in bytes.
    filename: str = ""
    total_size: int = 0


@dataclass(frozen=True)
class LinkJobResult:
    """What ``LinkJob.download_results()`` returns, like ``qai_hub``'s ``LinkJobResult``."""

    status: JobStatus
    url: str
    artifacts_dir: str


@dataclass(frozen=True)
class LinkJobSummary:
    """One row of ``get_job_summaries()``, with the fields of ``qai_hub.LinkJobSummary``.

    ``username`` is ``""``: the daemon does not record who created a job.
    """

    job_id: str
    name: str
    date: datetime
    username: str
    status: JobStatus
    job_type: JobType
    url: str
    device_name: str | None
