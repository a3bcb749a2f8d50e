"""Shell completion for ``aihubctl``: click's scripts, plus job ids and device names asked from
the running daemon (quietly nothing when it is not running or slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from .client import Client
from .errors import AihubdError

__all__ = ["COMPLETION_TIMEOUT", "complete_device_names", "complete_job_ids", "completion_script"]

COMPLETION_TIMEOUT = 2.0  # seconds; a completion must never hang the shell
COMPLETE_VAR = "_AIHUBCTL_COMPLETE"


def completion_script(command: click.Command, prog: str, shell: str) -> str:
    """The script that ``eval``/``source`` installs for ``shell`` (bash, zsh or fish)."""
    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise click.UsageError(f"no completion for shell {shell!r}")
    return completion_class(command, {}, prog, COMPLETE_VAR).source()


def _client(ctx: click.Context) -> Client:
    socket = ctx.find_root().params.get("socket")
    return Client(Path(socket) if socket else None)


def complete_job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Ids of the jobs the daemon tracks (newest first), with their name and status as help."""
    try:
        with _client(ctx) as client:
            page = client.list_jobs(limit=200)
    except (AihubdError, TimeoutError, OSError):
        return []
    return [
        CompletionItem(job.job_id, help=f"{job.last_status.code} {job.name}")
        for job in page.jobs
        if job.job_id.startswith(incomplete)
    ]


def complete_device_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The Hub's device names (from the daemon's cached list) that start with what is typed."""
    try:
        with _client(ctx) as client:
            names: list[Any] = [device.name for device in client.get_devices()]
    except (AihubdError, TimeoutError, OSError):
        return []
    wanted = incomplete.lower()
    return [CompletionItem(name) for name in sorted(set(names)) if name.lower().startswith(wanted)]
