"""Putting files at a destination: the official naming rules, safe names, atomic appearance.

A file appears at its destination complete or not at all: it is written to a hidden temp file
in the destination directory, fsynced, renamed into place, and the directory fsynced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from ..errors import HubError, InvalidArgument, ResourceExhausted

__all__ = ["atomic_file", "safe_filename", "target_model_path"]

TEMP_PREFIX = ".aihubd-partial-"


def safe_filename(name: str) -> str:
    """A Hub-supplied filename that cannot escape the directory it is written into."""
    if (not name or "/" in name or "\\" in name or "\x00" in name or name in (".", "..")
            or len(name.encode()) > 255):
        raise HubError(f"the Hub sent an unusable file name {name[:80]!r}; refusing to write it")
    return name


def _uniquify(path: Path, now: datetime) -> Path:
    """``<stem>_<HH.MM.SS.ffffff><ext>`` like qai-hub (``.zip`` keeps two suffixes)."""
    suffixes = path.suffixes
    ext = "".join(suffixes[-2:]) if suffixes and suffixes[-1] == ".zip" else (suffixes[-1] if suffixes else "")
    stem = path.name[: len(path.name) - len(ext)] if ext else path.name
    return path.with_name(f"{stem}_{now:%H.%M.%S.%f}{ext}")


def target_model_path(destination: Path, hub_filename: str, now: datetime | None = None) -> Path:
    """Where ``download_target_model(destination)`` writes, by the official qai-hub rules.

    An existing directory gets ``<dir>/<hub filename>`` (uniquified if taken); anything else is a
    file path that gets the Hub filename's suffix chain appended unless it already ends with it.
    """
    filename = safe_filename(hub_filename)
    if destination.is_dir():
        path = destination / filename
        return _uniquify(path, now or datetime.now()) if path.exists() else path
    chain = "".join(Path(filename).suffixes)
    if chain and not destination.name.endswith(chain):
        destination = destination.with_name(destination.name + chain)
    if not destination.parent.is_dir():
        raise InvalidArgument(f"download directory '{destination.parent}' does not exist")
    return destination


def ensure_directory(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidArgument(f"{directory} exists and is not a directory") from None
    except PermissionError:
        raise InvalidArgument(f"no permission to create {directory}") from None
    if not directory.is_dir():
        raise InvalidArgument(f"{directory} is not a directory")
    return directory


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def atomic_file(destination: Path) -> AsyncIterator[Path]:
    """Yield a temp path beside ``destination``; on success it replaces ``destination``."""
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, destination)
        _fsync_dir(destination.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == 28:  # ENOSPC
            raise ResourceExhausted(f"no space left on the device holding {destination.parent}") from None
        raise InvalidArgument(f"cannot write {destination}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
