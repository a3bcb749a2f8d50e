"""Thin Python client for the aihubd daemon, a drop-in for ``qai_hub``'s link-job API.

    import aihubd_client as hub

    job = hub.submit_link_job(["a.dlc", "b.dlc"], device=hub.Device("Snapdragon 8 Elite QRD"))
    job.wait()
    job.get_target_model().download("out/")

The module functions use a default ``Client`` created on first use ($AIHUBD_SOCKET or the
default socket). ``Client`` can be made explicitly (``Client(socket=...)``); ``AsyncClient``
offers the job calls as coroutines, for asyncio code.
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
from .kinds import JobType, SourceModelType
from .model import Model
from .module_functions import (
    default_client,
    get_device_attributes,
    get_devices,
    get_job,
    get_job_summaries,
    get_jobs,
    get_model,
    get_models,
    set_verbose,
    submit_link_job,
    track_job,
    upload_model,
)
from .resume import ReconnectPolicy
from .socket_path import default_socket_path
from .status import JobStatus
from .values import (
    ArtifactType,
    DaemonInfo,
    Device,
    JobArtifactType,
    LinkJobResult,
    LinkJobSummary,
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
    "JobType",
    "LinkJob",
    "LinkJobResult",
    "LinkJobSummary",
    "Model",
    "ModelChunk",
    "ModelRef",
    "NotFoundError",
    "PermissionDeniedError",
    "ReconnectPolicy",
    "RefreshResult",
    "ResourceExhaustedError",
    "SourceModelType",
    "TargetModel",
    "UserError",
    "default_client",
    "default_socket_path",
    "get_device_attributes",
    "get_devices",
    "get_job",
    "get_job_summaries",
    "get_jobs",
    "get_model",
    "get_models",
    "set_verbose",
    "submit_link_job",
    "track_job",
    "upload_model",
]
