"""Thin Python client for the aihubd daemon, mirroring ``qai_hub``'s link-job API.

    from aihubd_client import Client

    with Client() as client:
        job = client.submit_link_job(["a.dlc", "b.dlc"], device="Snapdragon 8 Elite QRD")
        status = job.wait()
        path = job.download_target_model("out/")
"""

from .client import Client, JobPage
from .errors import (
    AihubdError,
    DaemonUnavailableError,
    HubUnavailableError,
    InternalError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UserError,
)
from .job import LinkJob
from .socket_path import default_socket_path
from .status import JobStatus
from .values import (
    ArtifactType,
    DaemonInfo,
    Device,
    LinkJobResult,
    ModelRef,
    RefreshResult,
    TargetModel,
)

__all__ = [
    "AihubdError",
    "ArtifactType",
    "Client",
    "DaemonInfo",
    "DaemonUnavailableError",
    "Device",
    "HubUnavailableError",
    "InternalError",
    "JobPage",
    "JobStatus",
    "LinkJob",
    "LinkJobResult",
    "ModelRef",
    "NotFoundError",
    "PermissionDeniedError",
    "RefreshResult",
    "ResourceExhaustedError",
    "TargetModel",
    "UserError",
    "default_socket_path",
]
