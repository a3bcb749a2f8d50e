"""Turning caller arguments into request fields, checked the way ``qai_hub`` checks them.

Everything here runs before any call to the daemon: a bad argument never reaches the socket.
The daemon runs with another working directory, so every local path is sent absolute.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import UserError
from .status import JobStatus
from .values import ArtifactType

__all__ = [
    "ModelArg",
    "PathArg",
    "absolute_path",
    "artifact_type_value",
    "caller_style_path",
    "check_job_id",
    "check_job_type",
    "check_sharing_change",
    "device_names",
    "looks_like_model_id",
    "model_inputs",
    "project_id",
    "state_values",
]

PathArg = str | os.PathLike[str]
# A local path, a Hub model id, or any object with a ``model_id`` (like ``qai_hub.Model``).
ModelArg = str | os.PathLike[str] | Any

# Hub model ids: "m" and lowercase letters/digits, e.g. "mfd036f75".
_MODEL_ID = re.compile(r"m[0-9a-z]{5,}")
# The shape of an email address: something@domain.tld, no spaces or list separators.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;.]+")
_QNN_DLC = 15  # the Hub's ModelType value for a QNN DLC

NOT_DLC = "Input model must be a QNN DLC model."
NO_MODELS = "A link job takes at least one input model."
NOT_DISTINCT = "All input models to a link job must be distinct."
NONE_MODEL = "Model passed in was 'None' (make sure this is not the target of a failed compile job)"


def absolute_path(path: PathArg) -> str:
    """``~`` expanded, then made absolute against this process's working directory."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def looks_like_model_id(text: str) -> bool:
    """A Hub model id, and not a file that exists here."""
    return bool(_MODEL_ID.fullmatch(text)) and not os.path.exists(os.path.expanduser(text))


def model_inputs(models: ModelArg | Iterable[ModelArg]) -> list[pb.ModelInput]:
    """One ``ModelInput`` per model, checked like ``qai_hub.Client.submit_link_job``.

    A single path, id or model may be given without a list. Raises ``UserError`` with the
    official messages: a model that is not a QNN DLC, no model at all, the same model twice
    (after making paths absolute, so ``a.dlc`` and ``./a.dlc`` are the same model).
    """
    if models is None or isinstance(models, (str, bytes, os.PathLike)) or hasattr(models, "model_id"):
        items: list[Any] = [models]
    else:
        items = list(models)
    inputs = [_model_input(item) for item in items]
    if not inputs:
        raise UserError(NO_MODELS)
    keys = [(item.WhichOneof("source"), item.path or item.model_id) for item in inputs]
    if len(set(keys)) != len(keys):
        raise UserError(NOT_DISTINCT)
    return inputs


def _model_input(model: ModelArg) -> pb.ModelInput:
    if model is None:
        raise UserError(NONE_MODEL)
    model_id = getattr(model, "model_id", None)
    if isinstance(model_id, str) and model_id:
        if not _is_dlc_type(getattr(model, "model_type", None)):
            raise UserError(f"model {model_id} is not a QNN DLC model ({NOT_DLC})")
        return pb.ModelInput(model_id=model_id)
    if isinstance(model, bytes):
        model = os.fsdecode(model)
    if isinstance(model, str) and looks_like_model_id(model):
        return pb.ModelInput(model_id=model)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not path:
            raise UserError("A model path must not be empty.")
        if os.path.isdir(os.path.expanduser(path)):
            raise UserError(f"{path} is a directory, not a QNN DLC model (.dlc)")
        if os.path.splitext(path)[1] != ".dlc":
            raise UserError(f"{path} is not a QNN DLC model (.dlc)")
        return pb.ModelInput(path=absolute_path(path))
    raise UserError(f"{model!r} is not a QNN DLC model (.dlc): give a path, a Hub model id or a Model")


def _is_dlc_type(model_type: Any) -> bool:
    """A model object without a type is trusted (the daemon checks); with one, it must be DLC."""
    if model_type is None:
        return True
    if getattr(model_type, "name", None) == "QNN_DLC":
        return True
    value = getattr(model_type, "value", model_type)
    return isinstance(value, int) and value == _QNN_DLC


def device_names(device: Any) -> list[str]:
    """Hub device names from a name, a ``Device``-like object (``.name``), or a list of those."""
    items = list(device) if isinstance(device, (list, tuple)) else [device]
    if not items:
        raise UserError("At least one device is required.")
    names = []
    for item in items:
        name = item if isinstance(item, str) else getattr(item, "name", None)
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"A device name is required, got {item!r}.")
        names.append(name)
    return names


def project_id(project: Any) -> str:
    """A project id from a string or a ``Project``-like object (``.project_id``); None: ``""``."""
    if project is None:
        return ""
    value = project if isinstance(project, str) else getattr(project, "project_id", None)
    if not isinstance(value, str):
        raise UserError(f"Not a project id: {project!r}")
    return value


def check_job_id(job_id: str) -> None:
    """A job id given to ``get_job``, ``track_job`` or ``untrack_job`` must not be empty."""
    if not job_id:
        raise UserError(f"Invalid job_id: {job_id!r}")


def check_job_type(job_type: Any) -> None:
    """``get_job(job_id, job_type)``: None or the link type (``qai_hub.JobType.LINK``, "link")."""
    if job_type is None:
        return
    name = job_type if isinstance(job_type, str) else getattr(job_type, "name", str(job_type))
    if name.lower() != "link":
        raise ValueError(f"Requested job of type {name.lower()}, but got job of type link")


def check_sharing_change(add_emails: Any, delete_emails: Any) -> tuple[list[str], list[str]]:
    """``modify_sharing``'s arguments, checked in the official order, then for email shape."""
    add = [] if add_emails is None else add_emails
    delete = [] if delete_emails is None else delete_emails
    if not add and not delete:
        raise UserError("Either add_emails or delete_emails must be specified and non-empty")
    if not isinstance(add, list) or not isinstance(delete, list):
        raise UserError("add_emails and delete_emails must both be lists")
    for email in [*add, *delete]:
        if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
            raise UserError(f"{email!r} is not an email address.")
    return list(add), list(delete)


def caller_style_path(argument: str, sent: str, result: str) -> str:
    """Express the daemon's absolute ``result`` the way ``qai_hub`` would for ``argument``.

    ``argument`` is the caller's path after ``~`` expansion and ``sent`` its absolute form. A
    relative argument gives a relative answer: ``out`` -> ``out/<file>``,
    ``out/x`` -> ``out/x.bin``.
    """
    if os.path.isabs(argument):
        return result
    if os.path.dirname(result) == sent:
        return os.path.join(argument, os.path.basename(result))
    if result.startswith(sent):
        return argument + result[len(sent) :]
    return os.path.relpath(result)


def artifact_type_value(kind: Any) -> pb.ArtifactType.ValueType:
    """The wire value of an ``ArtifactType``, a ``qai_hub.JobArtifactType``, an int or a name."""
    if isinstance(kind, str):
        try:
            return pb.ArtifactType.ValueType(ArtifactType[kind.upper()])
        except KeyError:
            raise UserError(f"Unknown artifact type {kind!r}.") from None
    value = getattr(kind, "value", kind)
    if isinstance(value, int) and value in ArtifactType._value2member_map_:
        return pb.ArtifactType.ValueType(value)
    raise UserError(f"Unknown artifact type {kind!r}.")


def state_values(states: Any) -> list[pb.JobState.ValueType]:
    """Wire values of job states: codes (``"SUCCESS"``), ints, ``JobStatus``, state enums
    (this library's or ``qai_hub.JobStatus.State``); one state or a list; None: any."""
    if states is None:
        return []
    if isinstance(states, (str, int)) or hasattr(states, "value"):
        states = [states]
    values: list[pb.JobState.ValueType] = []
    for state in states:
        if isinstance(state, JobStatus):
            values.append(pb.JobState.ValueType(state.state))
            continue
        raw = state if isinstance(state, (str, int)) else getattr(state, "value", state)
        try:
            values.append(pb.JobState.ValueType(JobStatus(raw).state))
        except (ValueError, TypeError) as exc:
            raise UserError(str(exc)) from None
    return values
