"""Where a download may go, checked before the daemon is asked, as ``qai_hub`` checks it.

``download_target_model("out/")`` for a missing ``out`` raises the official ``ValueError``
(``Download directory 'out' does not exist.``), as does a file path in a missing directory. A
path below a regular file (``afile/sub`` where ``afile`` is a file) is a ``UserError`` naming
that file instead of an errno from deep inside a download.
"""

from __future__ import annotations

import os

from .errors import UserError
from .inputs import PathArg

__all__ = ["check_download_destination", "check_output_directory"]


def check_download_destination(filename: PathArg) -> str:
    """``filename`` with ``~`` expanded, after the official checks; raises before any call."""
    argument = os.path.expanduser(os.fspath(filename))
    if os.path.isdir(argument):
        return argument
    _refuse_file_ancestor(argument)
    if argument.endswith((os.sep, "/")):
        parent = argument.rstrip(os.sep + "/") or argument
    else:
        parent = os.path.dirname(argument)
    if parent and not os.path.exists(parent):
        raise ValueError(f"Download directory '{parent}' does not exist.")
    return argument


def check_output_directory(directory: PathArg) -> str:
    """A directory to write into (created when missing): refused with a clear ``UserError`` when it,
    or a directory above it, is a file."""
    path = os.path.abspath(os.path.expanduser(os.fspath(directory)))
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{os.fspath(directory)} is a file, not a directory")
    _refuse_file_ancestor(path)
    return path


def _refuse_file_ancestor(path: str) -> None:
    """UserError when a directory ``path`` needs is a regular file (or other non-directory)."""
    current = os.path.dirname(os.path.abspath(path.rstrip(os.sep + "/") or path))
    while True:
        if os.path.lexists(current):
            if not os.path.isdir(current):
                raise UserError(f"cannot write {path}: {current} is a file, not a directory")
            return
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent
