"""Daemon value types <-> aihubd.v1 protobuf messages."""

from __future__ import annotations

from datetime import datetime

from aihubd_api.v1 import aihubd_pb2 as api
from google.protobuf.timestamp_pb2 import Timestamp

from ..model import Job
from ..services.jobs import ModelSource

__all__ = ["job_to_proto", "model_sources"]


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def job_to_proto(job: Job, web_url: str, stale: bool = False) -> api.Job:
    return api.Job(
        job_id=job.job_id,
        name=job.name,
        state=int(job.state),
        message=job.message,
        creation_time=_timestamp(job.creation_time),
        device=api.Device(name=job.device.name, os=job.device.os, attributes=list(job.device.attributes)),
        models=[api.ModelRef(model_id=m.model_id, name=m.name) for m in job.models],
        options=job.options,
        project_id=job.project_id,
        url=f"{web_url.rstrip('/')}/jobs/{job.job_id}/",
        target_model_id=job.target_model_id,
        available_artifacts=[int(a) for a in job.available_artifacts],
        last_refresh_time=_timestamp(job.refreshed_at),
        stale=stale,
    )


def model_sources(inputs: list[api.ModelInput]) -> list[ModelSource]:
    return [ModelSource(path=m.path, model_id=m.model_id) for m in inputs]
