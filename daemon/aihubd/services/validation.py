"""Checks on request fields, shared by every service. Each failure says how to fix it."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InvalidArgument, NotFound

__all__ = ["MAX_NAME", "check_job_id", "check_local_model", "check_name", "check_output_path"]

MAX_NAME = 256
MAX_OPTIONS = 4096
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_job_id(job_id: str) -> str:
    if not job_id:
        raise InvalidArgument("a job id is required")
    if not _ID.match(job_id):
        raise InvalidArgument(f"{job_id[:80]!r} is not a job id (expected letters, digits, '_' or '-', at most 64)")
    return job_id


def check_model_id(model_id: str) -> str:
    if not _ID.match(model_id):
        raise InvalidArgument(f"{model_id[:80]!r} is not a Hub model id")
    return model_id


def check_name(name: str, what: str = "name") -> str:
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"the {what} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    if any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"the {what} contains control characters")
    return name


def check_options(options: str) -> str:
    if len(options) > MAX_OPTIONS:
        raise InvalidArgument(f"options are {len(options)} characters long; at most {MAX_OPTIONS} are allowed")
    if "\x00" in options:
        raise InvalidArgument("options contain a NUL character")
    return options


def _absolute(raw: str, what: str) -> Path:
    if not raw:
        raise InvalidArgument(f"{what} is empty")
    if "\x00" in raw:
        raise InvalidArgument(f"{what} contains a NUL character")
    path = Path(raw)
    if not path.is_absolute():
        raise InvalidArgument(f"{what} {raw!r} must be an absolute path (the daemon does not share your cwd)")
    return path


def check_local_model(raw: str) -> Path:
    """An absolute path to an existing, readable ``.dlc`` file."""
    path = _absolute(raw, "model path")
    if path.suffix.lower() != ".dlc":
        raise InvalidArgument(f"{raw[:200]}: input model must be a QNN DLC model (a .dlc file)")
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise NotFound(f"model file {raw[:200]} does not exist") from None
    except OSError as exc:  # a directory, too long a name, no permission, ...
        raise InvalidArgument(f"cannot read model file {raw[:200]}: {exc.strerror}") from None
    if not path.is_file():
        raise InvalidArgument(f"{raw[:200]} is not a regular file")
    return path


def check_output_path(raw: str, what: str = "output path") -> Path:
    """An absolute destination path (whether it exists is up to the caller)."""
    return _absolute(raw, what)
