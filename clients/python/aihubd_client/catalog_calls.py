"""The calls behind ``get_devices``, ``upload_model``, ``get_model(s)`` and ``get_job_summaries``;
arguments checked the way ``qai_hub`` checks them, no I/O here."""

from __future__ import annotations

import os
import re
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .channel import Call
from .errors import UserError
from .inputs import absolute_path, project_id
from .kinds import JobType

# "[low,high)" with either bound optional, each a version such as 14 or 15.2 (qai_hub's check).
_OS_INTERVAL = re.compile(r"\[(\d+(\.\d+)*)?,(\d+(\.\d+)*)?\)")

__all__ = [
    "device_attributes_list",
    "get_devices_call",
    "get_model_call",
    "list_models_call",
    "summary_filters",
    "upload_model_call",
]


def device_attributes_list(attributes: str | list[str] | None) -> list[str]:
    """``attributes`` of ``get_devices``: None, one attribute, or a list of them."""
    if attributes is None:
        return []
    if isinstance(attributes, str):
        return [attributes]
    if not all(isinstance(a, str) for a in attributes):
        raise UserError(f"attributes must be strings, got {attributes!r}")
    return list(attributes)


def get_devices_call(name: str, os_version: str, attributes: str | list[str] | None) -> Call[list[pb.Device]]:
    """Checked like ``qai_hub.Client.get_devices`` (same errors) before anything is sent."""
    wanted = device_attributes_list(attributes)
    if name == "" and os_version != "" and wanted == []:
        raise ValueError(
            "Cannot filter devices when provided only an OS version. Please provide a device name and/or attributes."
        )
    if os_version.startswith("[") and not _OS_INTERVAL.fullmatch(os_version):
        raise UserError(f"Incorrectly formed OS interval {os_version}")
    request = pb.GetDevicesRequest(name=name, os=os_version, attributes=wanted)
    return Call("GetDevices", request, reply=_devices, service="catalog")


def upload_model_call(model: Any, name: str | None, project: Any) -> Call[Any]:
    """Only local ``.dlc`` files can be uploaded here (link jobs take nothing else)."""
    if not isinstance(model, (str, os.PathLike)):
        raise UserError(f"aihubd uploads model files only (a path to a .dlc), got {type(model).__name__}")
    path = os.fspath(model)
    expanded = os.path.expanduser(path)
    if os.path.isdir(expanded):
        raise UserError(f"{path} is a directory, not a QNN DLC model (.dlc)")
    if os.path.splitext(path)[1] != ".dlc":
        raise UserError(f"{path} is not a QNN DLC model (.dlc)")
    if not os.path.exists(expanded):
        raise UserError(f"{path} does not exist")
    request = pb.UploadModelRequest(path=absolute_path(path), name=name or "", project_id=project_id(project))
    return Call("UploadModel", request, service="catalog")


def get_model_call(model_id: str) -> Call[pb.HubModel]:
    if not isinstance(model_id, str) or not model_id:
        raise UserError(f"Invalid model_id: {model_id!r}")
    return Call("GetModel", pb.GetModelRequest(model_id=model_id), service="catalog")


def list_models_call(offset: int, limit: int, project: Any) -> Call[list[pb.HubModel]]:
    if offset < 0:
        raise UserError("offset must not be negative")
    request = pb.ListModelsRequest(offset=offset, limit=limit, project_id=project_id(project))
    return Call("ListModels", request, reply=_models, service="catalog")


def summary_filters(creator: str | None, job_type: Any, project: Any) -> bool:
    """Whether ``get_job_summaries`` can have any answer; raises for filters the daemon lacks."""
    if creator is not None:
        raise UserError("creator= is not supported: the daemon does not record who created a job")
    if project is not None:
        raise UserError("project= is not supported by get_job_summaries here; filter on job.project_id")
    if job_type is None:
        return True
    name = job_type if isinstance(job_type, str) else getattr(job_type, "name", str(job_type))
    return str(name).lower() in (JobType.LINK.name.lower(), JobType.UNSPECIFIED.name.lower())


def _devices(response: pb.GetDevicesResponse) -> list[pb.Device]:
    return list(response.devices)


def _models(response: pb.ListModelsResponse) -> list[pb.HubModel]:
    return list(response.models)
