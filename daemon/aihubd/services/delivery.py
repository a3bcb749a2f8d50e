"""Where delivered files go: the official naming rules, safe Hub names, usable directories.

(The delivery itself, atomic by rename, is ``store.blobs.BlobStore.deliver``; its hidden temp
file is journaled by ``store.deliveries`` so a restart after a crash removes it.)
"""

from __future__ import annotations

import errno
from datetime import datetime
from pathlib import Path

from ..errors import HubError, InvalidArgument, ResourceExhausted

__all__ = ["ensure_directory", "safe_filename", "target_model_path"]

NAME_MAX = 255


def safe_filename(name: str) -> str:
    """A Hub-supplied filename that cannot escape the directory it is written into."""
    if (
        not name
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name in (".", "..")
        or len(name.encode()) > NAME_MAX
    ):
        raise HubError(f"the Hub sent an unusable file name {name[:80]!r}; refusing to write it")
    return name


def _uniquify(path: Path, now: datetime) -> Path:
    """``<stem>_<HH.MM.SS.ffffff><ext>`` like qai-hub (``.zip`` keeps two suffixes); the stem is
    shortened when the result would pass the 255-byte name limit."""
    suffixes = path.suffixes
    ext = "".join(suffixes[-2:]) if suffixes and suffixes[-1] == ".zip" else (suffixes[-1] if suffixes else "")
    stem = path.name[: len(path.name) - len(ext)] if ext else path.name
    stamp = f"_{now:%H.%M.%S.%f}"
    room = NAME_MAX - len((stamp + ext).encode())
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return path.with_name(f"{stem}{stamp}{ext}")


def target_model_path(destination: Path, hub_filename: str, now: datetime | None = None) -> Path:
    """Where ``download_target_model(destination)`` writes, by the official qai-hub rules.

    An existing directory gets ``<dir>/<hub filename>`` (uniquified if taken); anything else is a
    file path that gets the Hub filename's suffix chain appended unless it already ends with it.
    """
    filename = safe_filename(hub_filename)
    try:
        if destination.is_dir():
            path = destination / filename
            return _uniquify(path, now or datetime.now()) if path.exists() else path
        chain = "".join(Path(filename).suffixes)
        if chain and not destination.name.endswith(chain):
            destination = destination.with_name(destination.name + chain)
        if len(destination.name.encode()) > NAME_MAX:
            raise InvalidArgument(f"the file name {destination.name[:80]}... is longer than {NAME_MAX} bytes")
        if not destination.parent.is_dir():
            raise InvalidArgument(f"download directory '{str(destination.parent)[:200]}' does not exist")
    except OSError as exc:  # e.g. a path too long for the filesystem
        raise InvalidArgument(f"unusable destination {str(destination)[:200]}: {exc.strerror}") from None
    return destination


def ensure_directory(directory: Path) -> Path:
    """Create ``directory`` (and parents) if needed; any reason it cannot be used is the caller's."""
    shown = str(directory)[:200]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        usable = directory.is_dir()
    except FileExistsError:
        raise InvalidArgument(f"{shown} exists and is not a directory") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ResourceExhausted(f"no space left to create {shown}") from None
        raise InvalidArgument(f"cannot create directory {shown}: {exc.strerror}") from None
    if not usable:
        raise InvalidArgument(f"{shown} is not a directory")
    return directory
