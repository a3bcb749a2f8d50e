"""``aihubd install-service``: start the daemon at login, as a systemd ``--user`` unit (Linux) or
a launchd agent (macOS).

The unit starts ``aihubd serve`` in the foreground (the service manager keeps it running); there
is no socket activation: the daemon checks and claims its own private socket directory.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

__all__ = [
    "LAUNCHD_LABEL",
    "SYSTEMD_UNIT",
    "aihubd_executable",
    "install_path",
    "launchd_plist",
    "next_steps",
    "service_text",
    "systemd_unit",
]

SYSTEMD_UNIT = "aihubd.service"
LAUNCHD_LABEL = "io.github.aihubd"


def aihubd_executable() -> str:
    """The ``aihubd`` script beside this interpreter (a venv's ``bin/``), else ``python -m aihubd``."""
    script = Path(sys.executable).with_name("aihubd")
    return str(script) if script.exists() else f"{sys.executable} -m aihubd"


def systemd_unit(serve_args: Sequence[str], executable: str | None = None) -> str:
    """The text of ``aihubd.service`` running ``aihubd serve <serve_args>``."""
    command = shlex.join([*(executable or aihubd_executable()).split(" "), "serve", *serve_args])
    return "\n".join(
        [
            "[Unit]",
            "Description=aihubd: local daemon for Qualcomm AI Hub link jobs",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={command}",
            # SIGTERM is the daemon's clean stop: waiters get a final, resumable status.
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
            "Restart=on-failure",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def launchd_plist(serve_args: Sequence[str], log: Path, executable: str | None = None) -> str:
    """The text of the launchd agent running ``aihubd serve <serve_args>`` at login."""
    document = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [*(executable or aihubd_executable()).split(" "), "serve", *serve_args],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": str(log),
        "StandardErrorPath": str(log),
    }
    return plistlib.dumps(document).decode()


def install_path(kind: str) -> Path:
    """Where the unit goes: ``~/.config/systemd/user/`` or ``~/Library/LaunchAgents/``."""
    if kind == "launchd":
        return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or platformdirs.user_config_dir())
    return config / "systemd" / "user" / SYSTEMD_UNIT


def service_text(kind: str, serve_args: Sequence[str], log: Path) -> str:
    return launchd_plist(serve_args, log) if kind == "launchd" else systemd_unit(serve_args)


def next_steps(kind: str, path: Path) -> str:
    """What to run after the file is written."""
    if kind == "launchd":
        return f"load it with: launchctl load -w {shlex.quote(str(path))}"
    return "enable it with: systemctl --user daemon-reload && systemctl --user enable --now aihubd"
