"""Daemon value types <-> aihubd.v1 protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from aihubd_api.v1 import aihubd_pb2 as api

from ..errors import InvalidArgument
from ..model import ArtifactType, Job, ModelInfo
from ..services.submissions import ModelSource

__all__ = ["artifact_type", "job_to_proto", "model_sources", "target_model_to_proto", "timestamp"]


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None (an unset field) for no time."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def job_to_proto(job: Job, web_url: str, stale: bool = False, shutting_down: bool = False) -> api.Job:
    return api.Job(
        job_id=job.job_id,
        name=job.name,
        state=api.JobState.ValueType(job.state),
        message=job.message,
        creation_time=timestamp(job.creation_time),
        device=api.Device(name=job.device.name, os=job.device.os, attributes=list(job.device.attributes)),
        models=[api.ModelRef(model_id=m.model_id, name=m.name) for m in job.models],
        options=job.options,
        project_id=job.project_id,
        url=f"{web_url.rstrip('/')}/jobs/{job.job_id}/",
        target_model_id=job.target_model_id,
        available_artifacts=[api.ArtifactType.ValueType(a) for a in job.available_artifacts],
        last_refresh_time=timestamp(job.refreshed_at),
        stale=stale,
        daemon_shutting_down=shutting_down,
    )


def model_sources(inputs: list[api.ModelInput]) -> list[ModelSource]:
    return [ModelSource(path=m.path, model_id=m.model_id) for m in inputs]


def artifact_type(value: int) -> ArtifactType:
    try:
        kind = ArtifactType(value)
    except ValueError:
        raise InvalidArgument(f"unknown artifact type {value}") from None
    if kind == ArtifactType.UNSPECIFIED:
        raise InvalidArgument("an artifact type is required (e.g. HUB_LOG)")
    return kind


def target_model_to_proto(info: ModelInfo | None, filename: str, web_url: str) -> api.TargetModel:
    if info is None:
        return api.TargetModel(present=False)
    return api.TargetModel(
        present=True,
        model_id=info.model_id,
        name=info.name,
        model_type=info.model_type,
        creation_time=timestamp(info.creation_time),
        url=f"{web_url.rstrip('/')}/models/{info.model_id}/",
        filename=filename,
    )
