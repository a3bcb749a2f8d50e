"""Turning caller arguments into request fields: paths, model inputs, device names.

The daemon runs with another working directory, so every local path is sent absolute.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, Union

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
    "device_name",
    "looks_like_model_id",
    "model_inputs",
    "state_values",
]

PathArg = str | os.PathLike[str]
# A local path, a Hub model id, or any object with a ``model_id`` (like ``qai_hub.Model``).
ModelArg = Union[str, os.PathLike[str], Any]

# Hub model ids: "m" and lowercase letters/digits, e.g. "mfd036f75".
_MODEL_ID = re.compile(r"m[0-9a-z]{5,}")


def absolute_path(path: PathArg) -> str:
    """``~`` expanded, then made absolute against this process's working directory."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def looks_like_model_id(text: str) -> bool:
    """A Hub model id, and not a file that exists here."""
    return bool(_MODEL_ID.fullmatch(text)) and not os.path.exists(os.path.expanduser(text))


def model_inputs(models: ModelArg | Iterable[ModelArg]) -> list[pb.ModelInput]:
    """One ``ModelInput`` per model; a single path or id may be given without a list."""
    if isinstance(models, (str, bytes, os.PathLike)) or hasattr(models, "model_id"):
        items: list[Any] = [models]
    else:
        items = list(models)
    if not items:
        raise UserError("A link job needs at least one model.")
    return [_model_input(item) for item in items]


def _model_input(model: ModelArg) -> pb.ModelInput:
    model_id = getattr(model, "model_id", None)
    if isinstance(model_id, str) and model_id:
        return pb.ModelInput(model_id=model_id)
    if isinstance(model, bytes):
        model = os.fsdecode(model)
    if isinstance(model, str) and looks_like_model_id(model):
        return pb.ModelInput(model_id=model)
    if isinstance(model, (str, os.PathLike)):
        if not os.fspath(model):
            raise UserError("A model path must not be empty.")
        return pb.ModelInput(path=absolute_path(model))
    raise UserError(f"Not a model path or Hub model id: {model!r}")


def device_name(device: Any) -> str:
    """The Hub device name of a string or of any object with a ``name`` (``qai_hub.Device``)."""
    name = device if isinstance(device, str) else getattr(device, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"A device name is required, got {device!r}.")
    return name


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


def artifact_type_value(kind: Any) -> int:
    """The wire value of an ``ArtifactType``, a ``qai_hub.JobArtifactType``, an int or a name."""
    if isinstance(kind, str):
        try:
            return int(ArtifactType[kind.upper()])
        except KeyError:
            raise UserError(f"Unknown artifact type {kind!r}.") from None
    value = getattr(kind, "value", kind)
    if isinstance(value, int) and value in ArtifactType._value2member_map_:
        return int(value)
    raise UserError(f"Unknown artifact type {kind!r}.")


def state_values(states: Iterable[int | str]) -> list[int]:
    """Wire values of job states given as codes (``"SUCCESS"``) or ints."""
    try:
        return [int(JobStatus(state).state) for state in states]
    except ValueError as exc:
        raise UserError(str(exc)) from None
