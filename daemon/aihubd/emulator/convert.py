"""Records -> ``qai_hub.public_api_pb2`` messages."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from qai_hub import public_api_pb2 as pb

from .devices import DeviceSpec
from .records import (
    ARTIFACT_DEVICE_LOG,
    ARTIFACT_HUB_LOG,
    FAILED,
    MODEL_TYPE_QNN_CONTEXT_BINARY,
    JobRecord,
    ModelRecord,
    UserRecord,
)
from .state import EmulatorState

__all__ = [
    "HUB_VERSION",
    "device_pb",
    "job_pb",
    "job_summary_pb",
    "model_pb",
    "timestamp",
    "user_pb",
]

HUB_VERSION = "aihubd-emulator"
QNN_MODEL_GRAPH_NAMES = 30  # ModelMetadataKey


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def user_pb(user: UserRecord) -> pb.User:
    local = user.email.split("@", 1)[0]
    return pb.User(id=user.user_id, email=user.email, first_name=local, last_name="", org_id=user.org_id)


def device_pb(device: DeviceSpec | dict[str, object]) -> pb.Device:
    if isinstance(device, DeviceSpec):
        return pb.Device(
            name=device.name,
            os=device.os,
            attributes=list(device.attributes),
            soc_description=device.soc_description,
        )
    return pb.Device(
        name=str(device["name"]),
        os=str(device["os"]),
        attributes=[str(a) for a in device["attributes"]],  # type: ignore[attr-defined]
        soc_description=str(device.get("soc_description", "")),
    )


def model_pb(state: EmulatorState, model: ModelRecord) -> pb.Model:
    message = pb.Model(
        model_id=model.model_id,
        owner=user_pb(state.users[model.owner_id]),
        name=model.name,
        creation_time=timestamp(model.creation_time),
        model_type=model.model_type,  # type: ignore[arg-type]
        file_upload_complete=model.has_content,
        is_directory=model.is_directory,
    )
    if model.producer_id:
        message.producer_id = model.producer_id
        message.producer_attempt_number = 1
    if model.project_id:
        message.project_id = model.project_id
    if model.has_content and model.graph_names:
        message.metadata.entries[QNN_MODEL_GRAPH_NAMES] = ",".join(model.graph_names)
    return message


def job_pb(state: EmulatorState, job: JobRecord) -> pb.Job:
    link = pb.LinkJob(
        link_job_id=job.job_id,
        user=user_pb(state.users[job.owner_id]),
        user_id=job.owner_id,
        job_state=job.state,  # type: ignore[arg-type]
        name=job.name,
        options=job.options,
        creation_time=timestamp(job.creation_time),
        last_updated_time=timestamp(job.last_updated_time),
        queued_time=timestamp(job.creation_time),
        device=device_pb(job.device),
    )
    for model_id in job.model_ids:
        model = state.models.get(model_id)
        link.models.models.append(model_pb(state, model) if model else pb.Model(model_id=model_id))
    link.models.total_query_count = len(job.model_ids)
    if job.start_time is not None:
        link.start_time.CopyFrom(timestamp(job.start_time))
    if job.completion_time is not None:
        link.completion_time.CopyFrom(timestamp(job.completion_time))
    if job.project_id:
        link.project_id = job.project_id
    if job.state == FAILED:
        link.failure_reason = job.planned_failure or "Link failed."
    target = state.models.get(job.target_model_id or "")
    if target is not None:
        link.target_model.CopyFrom(model_pb(state, target))
    message = pb.Job(link_job=link, hub_version=HUB_VERSION)
    if job.terminal:
        message.available_artifacts.extend([ARTIFACT_DEVICE_LOG, ARTIFACT_HUB_LOG])  # type: ignore[list-item]
    return message


def job_summary_pb(state: EmulatorState, job: JobRecord) -> pb.JobSummary:
    summary = pb.LinkJobSummary(
        job_id=job.job_id,
        user=user_pb(state.users[job.owner_id]),
        name=job.name,
        job_state=job.state,  # type: ignore[arg-type]
        creation_time=timestamp(job.creation_time),
        queued_time=timestamp(job.creation_time),
        device_name=str(job.device["name"]),
        device_os_version=str(job.device["os"]),
        target_model_type=MODEL_TYPE_QNN_CONTEXT_BINARY,  # type: ignore[arg-type]
    )
    if not state.config.omit_last_updated_time:
        summary.last_updated_time.CopyFrom(timestamp(job.last_updated_time))
    if job.start_time is not None:
        summary.start_time.CopyFrom(timestamp(job.start_time))
    if job.completion_time is not None:
        summary.completion_time.CopyFrom(timestamp(job.completion_time))
    if job.project_id:
        summary.project_id = job.project_id
    return pb.JobSummary(link_job_summary=summary)
