"""The module is the client, as in ``qai_hub``: functions backed by one lazily created ``Client``.

``import aihubd_client as hub`` then ``hub.submit_link_job(...)``, ``hub.get_job(...)`` and
the rest work like ``qai_hub``'s module functions. The default client is created on first use,
on ``$AIHUBD_SOCKET`` or the default socket path (read at that moment), and shared by every
thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .client import Client
from .inputs import ModelArg
from .job import LinkJob
from .model import Model
from .values import Device, LinkJobSummary

__all__ = [
    "default_client",
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

_lock = threading.Lock()
_client: Client | None = None


def default_client() -> Client:
    """The module's shared ``Client``, created on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


def submit_link_job(
    models: ModelArg | Iterable[ModelArg],
    device: Any,
    name: str | None = None,
    options: str = "",
    project: Any = None,
) -> LinkJob | list[LinkJob]:
    """Submit a link job (``Client.submit_link_job``)."""
    return default_client().submit_link_job(models, device, name, options, project)


def get_job(job_id: str, job_type: Any = None) -> LinkJob:
    """The job with this id (``Client.get_job``)."""
    return default_client().get_job(job_id, job_type)


def get_job_summaries(
    offset: int = 0,
    limit: int = 50,
    creator: str | None = None,
    state: Any = None,
    type: Any = None,
    project: Any = None,
) -> list[LinkJobSummary]:
    """Tracked link jobs as summaries, newest first (``Client.get_job_summaries``)."""
    return default_client().get_job_summaries(offset, limit, creator, state, type, project)


def get_devices(name: str = "", os: str = "", attributes: str | list[str] | None = None) -> list[Device]:
    """The Hub's devices matching every filter (``Client.get_devices``)."""
    return default_client().get_devices(name, os, attributes)


def get_device_attributes() -> list[str]:
    """Every device attribute, sorted (``Client.get_device_attributes``)."""
    return default_client().get_device_attributes()


def upload_model(model: Any, name: str | None = None, project: Any = None) -> Model:
    """Upload a local ``.dlc`` (``Client.upload_model``)."""
    return default_client().upload_model(model, name, project)


def get_model(model_id: str) -> Model:
    """The Hub model with this id (``Client.get_model``)."""
    return default_client().get_model(model_id)


def get_models(offset: int = 0, limit: int = 50, project: Any = None) -> list[Model]:
    """The account's models, newest first (``Client.get_models``)."""
    return default_client().get_models(offset, limit, project)


def set_verbose(verbose: bool = True) -> None:
    """Set ``verbose`` on what the default client returns (``Client.set_verbose``)."""
    default_client().set_verbose(verbose)


def get_jobs(states: Any = None, name: str | None = None, limit: int = 50, offset: int = 0) -> list[LinkJob]:
    """Tracked jobs, newest first (an aihubd extra: ``Client.get_jobs``)."""
    return default_client().get_jobs(states, name, limit, offset)


def track_job(job_id: str) -> LinkJob:
    """Have the daemon follow a job submitted elsewhere (an aihubd extra: ``Client.track_job``)."""
    return default_client().track_job(job_id)
