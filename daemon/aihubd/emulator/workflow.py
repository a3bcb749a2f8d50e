"""Link-job submission: validate the request, run the emulated link, register the job.

The link runs once, at submission (in a worker thread): it decides whether the job
will fail, writes the target model's file and both log artifacts. Only the job's
state then changes with time; the files are served once the job is terminal (the
target model only when DONE). A job that will fail carries no target model.
"""

from __future__ import annotations

import asyncio

from qai_hub import public_api_pb2 as pb

from .blobs import BlobStore
from .devices import DeviceSpec, find_devices
from .errors import BadRequest
from .linker import LinkInput, LinkOutput, device_log, hub_log, link_models, plan_failure
from .records import (
    ARTIFACT_DEVICE_LOG,
    ARTIFACT_HUB_LOG,
    MODEL_TYPE_QNN_CONTEXT_BINARY,
    MODEL_TYPE_QNN_DLC,
    JobRecord,
    ModelRecord,
    UserRecord,
)
from .state import EmulatorState

__all__ = ["artifact_filename", "submit_link_job", "target_model_name"]


def target_model_name(job_id: str) -> str:
    """The target model's name; its download filename is this plus ``.bin``."""
    return f"job_{job_id}_optimized_bin"


def artifact_filename(job_id: str, artifact_type: int) -> str | None:
    """The flat file name of a log artifact, or None for types the emulator lacks."""
    if artifact_type == ARTIFACT_DEVICE_LOG:
        return f"{job_id}_device.log"
    if artifact_type == ARTIFACT_HUB_LOG:
        return f"{job_id}_hub.log"
    return None


def _resolve_device(requested: pb.Device) -> DeviceSpec:
    if not requested.name:
        raise BadRequest("A link job needs a device name.")
    found = find_devices(name=requested.name)
    if not found:
        raise BadRequest(f"Device '{requested.name}' is not available.")
    device = found[0]
    if "framework:qnn" not in device.attributes:
        raise BadRequest(f"Device '{device.name}' does not support QNN model input.")
    return device


async def submit_link_job(
    state: EmulatorState,
    blobs: BlobStore,
    user: UserRecord,
    link: pb.LinkJob,
    project_id: str | None,
) -> JobRecord:
    """Create a link job from a ``LinkJob`` request message."""
    model_ids = [entry.model_id for entry in link.models.models]
    if not model_ids or any(not model_id for model_id in model_ids):
        raise BadRequest("A link job needs at least one input model id.")
    models = [state.visible_model(user, model_id) for model_id in model_ids]
    for model in models:
        if model.model_type != MODEL_TYPE_QNN_DLC:
            raise BadRequest(f"Input model {model.model_id} must be a QNN DLC model.")
    device = _resolve_device(link.device)
    options = link.options.strip()
    job_id = state.new_id("j")
    inputs = [
        LinkInput(
            model_id=model.model_id,
            name=model.name,
            path=blobs.model_path(model.model_id) if model.has_content else None,
            size=model.size,
            sha256=model.sha256,
        )
        for model in models
    ]
    failure = plan_failure(inputs)
    output: LinkOutput | None = None
    target_id: str | None = None
    if failure is None:
        target_id = state.new_id("m")
        output = await asyncio.to_thread(
            link_models,
            inputs,
            blobs.model_path(target_id),
            device.name,
            options,
            state.config.chunk_size,
        )
    target_file = f"{target_model_name(job_id)}.bin"
    logs = {
        ARTIFACT_HUB_LOG: hub_log(job_id, device.name, options, inputs, output, target_file, failure),
        ARTIFACT_DEVICE_LOG: device_log(job_id, device.name, inputs, output, failure),
    }
    for artifact_type, text in logs.items():
        await asyncio.to_thread(blobs.write_text, blobs.artifact_path(job_id, artifact_type), text)

    now = state.clock()
    target: ModelRecord | None = None
    if output is not None and target_id is not None:
        target = ModelRecord(
            model_id=target_id,
            owner_id=user.user_id,
            name=target_model_name(job_id),
            model_type=MODEL_TYPE_QNN_CONTEXT_BINARY,
            creation_time=now,
            project_id=project_id,
            producer_id=job_id,
            size=output.size,
            sha256=output.sha256,
            graph_names=list(output.graphs),
        )
    job = JobRecord(
        job_id=job_id,
        seq=0,
        owner_id=user.user_id,
        name=link.name or (models[-1].name if models else job_id),
        options=options,
        device={
            "name": device.name,
            "os": device.os,
            "attributes": list(device.attributes),
            "soc_description": device.soc_description,
        },
        model_ids=model_ids,
        creation_time=now,
        project_id=project_id,
        planned_failure=failure,
        target_model_id=target_id,
    )
    state.add_job(job, target)
    return job
