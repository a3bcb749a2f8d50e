"""Where a streamed target model goes: the official ``qai_hub`` naming rules, client-side.

``LinkJob.download_target_model(path)`` has the daemon write the file (it applies the same
rules). This module serves the other path, where the client reads the model as a stream (to
show a progress bar) and writes the file itself.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

__all__ = ["target_model_path", "written_atomically"]


def target_model_path(destination: str, hub_filename: str, now: datetime | None = None) -> str:
    """Where ``download_target_model(destination)`` puts a file the Hub calls ``hub_filename``.

    An existing directory: ``<dir>/<hub filename>``, or ``<stem>_<HH.MM.SS.ffffff><ext>`` when
    that is taken (``ext`` is the last suffix, the last two for ``.zip``). Anything else is a
    file path that gets the Hub filename's whole suffix chain appended unless it already ends
    with it; its directory must exist.
    """
    name = os.path.basename(hub_filename)
    if not name or name in (".", ".."):
        raise UserError(f"the Hub sent an unusable file name {hub_filename!r}")
    destination = os.path.expanduser(destination)
    if os.path.isdir(destination):
        path = os.path.join(destination, name)
        return _uniquified(path, now or datetime.now()) if os.path.exists(path) else path
    chain = "".join(Path(name).suffixes)
    if chain and not destination.endswith(chain):
        destination += chain
    parent = os.path.dirname(destination) or "."
    if not os.path.isdir(parent):
        raise UserError(f"Download directory '{parent}' does not exist.")
    return destination


def _uniquified(path: str, now: datetime) -> str:
    suffixes = Path(path).suffixes
    ext = "".join(suffixes[-2:]) if suffixes and suffixes[-1] == ".zip" else "".join(suffixes[-1:])
    stem = path[: len(path) - len(ext)] if ext else path
    return f"{stem}_{now:%H.%M.%S.%f}{ext}"


@contextmanager
def written_atomically(path: str) -> Iterator[BinaryIO]:
    """A file to write that appears at ``path`` only when the block completes (overwriting)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".aihubctl-partial-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
