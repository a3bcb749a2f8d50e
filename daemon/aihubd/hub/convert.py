"""Hub protobuf messages (``qai_hub.public_api_pb2``) -> the daemon's value types."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from qai_hub import public_api_pb2 as pb

from ..model import ArtifactType, Device, Job, JobState, ModelRef

__all__ = ["device_from_pb", "device_to_pb", "job_from_pb", "time_from_pb"]

_KNOWN_ARTIFACTS = {t.value for t in ArtifactType} - {ArtifactType.UNSPECIFIED}


def time_from_pb(ts: Timestamp) -> datetime | None:
    """A Hub timestamp as an aware UTC datetime; unset (zero) reads as None."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC)


def device_from_pb(device: pb.Device) -> Device:
    return Device(name=device.name, os=device.os, attributes=tuple(device.attributes))


def device_to_pb(device: Device) -> pb.Device:
    return pb.Device(name=device.name, os=device.os, attributes=list(device.attributes))


def job_from_pb(job: pb.Job, refreshed_at: datetime | None = None) -> Job:
    """Read a Hub ``Job`` whose oneof is ``link_job``."""
    link = job.link_job
    target = link.target_model.model_id if link.HasField("target_model") else ""
    return Job(
        job_id=link.link_job_id,
        name=link.name,
        state=JobState.of(link.job_state),
        message=link.failure_reason if link.HasField("failure_reason") else "",
        creation_time=time_from_pb(link.creation_time) or datetime.fromtimestamp(0, tz=UTC),
        last_updated_time=time_from_pb(link.last_updated_time),
        device=device_from_pb(link.device),
        models=tuple(ModelRef(m.model_id, m.name) for m in link.models.models),
        options=link.options,
        project_id=link.project_id if link.HasField("project_id") else "",
        target_model_id=target,
        available_artifacts=tuple(ArtifactType(a) for a in job.available_artifacts if a in _KNOWN_ARTIFACTS),
        refreshed_at=refreshed_at,
    )
