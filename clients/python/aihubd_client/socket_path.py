"""Where the daemon listens: the one rendezvous rule shared by the daemon and every client."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import platformdirs

SOCKET_ENV = "AIHUBD_SOCKET"
SOCKET_NAME = "aihubd.sock"
APP_NAME = "aihubd"


def default_socket_path() -> Path:
    """``$AIHUBD_SOCKET`` if set, else ``aihubd.sock`` in the 0700 ``aihubd/`` runtime directory."""
    override = os.environ.get(SOCKET_ENV)
    if override:
        return Path(override).expanduser().absolute()
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp/runtime-<uid>.
        warnings.simplefilter("ignore")
        return platformdirs.user_runtime_path(APP_NAME) / SOCKET_NAME
