"""Thin Python client for the aihubd daemon, mirroring ``qai_hub``'s link-job API.

    from aihubd_client import Client

    with Client() as client:
        job = client.submit_link_job(["a.dlc", "b.dlc"], device="Snapdragon 8 Elite QRD")
        status = job.wait()
        path = job.download_target_model("out/")

``AsyncClient`` offers the same names as coroutines, for asyncio code.
"""

from .aio_client import AsyncClient, AsyncJobPage
from .aio_job import AsyncLinkJob
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
from .resume import ReconnectPolicy
from .socket_path import default_socket_path
from .status import JobStatus
from .values import (
    ArtifactType,
    DaemonInfo,
    Device,
    JobArtifactType,
    LinkJobResult,
    ModelChunk,
    ModelRef,
    RefreshResult,
    TargetModel,
)

__all__ = [
    "AihubdError",
    "ArtifactType",
    "AsyncClient",
    "AsyncJobPage",
    "AsyncLinkJob",
    "Client",
    "DaemonInfo",
    "DaemonUnavailableError",
    "Device",
    "HubUnavailableError",
    "InternalError",
    "JobArtifactType",
    "JobPage",
    "JobStatus",
    "LinkJob",
    "LinkJobResult",
    "ModelChunk",
    "ModelRef",
    "NotFoundError",
    "PermissionDeniedError",
    "ReconnectPolicy",
    "RefreshResult",
    "ResourceExhaustedError",
    "TargetModel",
    "UserError",
    "default_socket_path",
]
