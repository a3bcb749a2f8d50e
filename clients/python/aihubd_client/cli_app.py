"""What every ``aihubctl`` command shares: the per-invocation client, the consoles, the
error-to-exit-code group, the common options and the wait/download/exit helpers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .cli_live import follow, is_terminal, stream_target_model
from .cli_since import SinceType
from .client import Client
from .destinations import check_output_directory
from .errors import AihubdError
from .exit_codes import ExitCode, exit_code_for
from .job import LinkJob
from .status import JobStatus, State

__all__ = [
    "LINK_JOB_STATES",
    "PROG",
    "SINCE",
    "App",
    "Group",
    "download_default",
    "echo_json",
    "finish",
    "follow_job",
    "json_option",
    "output_directory",
    "print_rows",
    "report",
    "say",
    "stderr_console",
    "stdout_console",
    "stdout_is_terminal",
    "timeout_option",
]

PROG = "aihubctl"
# The states a link job can be in (qai_hub.LinkJob's in-progress states, then the final ones).
LINK_JOB_STATES = (State.CREATED, State.LINKING_MODELS, State.SUCCESS, State.FAILED)
_TIMEOUT_HELP = "Give up waiting after this many seconds (exit 4); the job keeps running."


def stdout_is_terminal() -> bool:
    """stdout is a terminal (live displays only there)."""
    return is_terminal(sys.stdout)


def stdout_console() -> Console:
    # Built per use: click's test runner swaps sys.stdout; rich honours NO_COLOR itself.
    # Off a terminal, tables are never squeezed to 80 columns (they are for other programs).
    width = None if stdout_is_terminal() else 4096
    return Console(highlight=False, soft_wrap=True, width=width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str | Text) -> None:
    """A message for the user, on stderr."""
    stderr_console().print(Text.assemble(f"{PROG}: ", message))


def report(exc: BaseException) -> None:
    """The one-line error for a failed command, on stderr."""
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, (AihubdError, TimeoutError, OSError)):
        text = f"unexpected {type(exc).__name__}: {text}"
    stderr_console().print(Text.assemble(f"{PROG}: ", ("error:", "bold red"), " ", text))


def echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


class App:
    """Per-invocation state: the socket option and a client opened on first use."""

    def __init__(self, socket: Path | None) -> None:
        self.socket = socket
        self._client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.socket)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class Group(click.Group):
    """Turns library errors and Ctrl-C into one stderr line and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            say("interrupted")
            ctx.exit(ExitCode.INTERRUPTED)
        except Exception as exc:
            report(exc)
            ctx.exit(exit_code_for(exc))


SINCE = SinceType()
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS", help=_TIMEOUT_HELP
)


def output_directory(directory: Path) -> Path:
    """DIRECTORY for downloads, absolute (so every path printed is); a clear UserError when it,
    or a directory above it, is a file."""
    return Path(check_output_directory(directory))


def follow_job(job: LinkJob, started: float, timeout: float | None = None) -> JobStatus:
    """Wait for the job with its status on stderr (a live line on a terminal)."""
    return follow(job, started, stderr_console(), is_terminal(sys.stderr), timeout)


def download_default(job: LinkJob, directory: Path, progress: bool | None) -> list[str]:
    """Target model (if any) then logs into ``directory``; the paths written."""
    directory = output_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A client-written stream only when asked: the daemon's delivery (hardlink or copy) is the default.
    target = (
        stream_target_model(job, directory, stderr_console(), True)
        if progress
        else job.download_target_model(directory)
    )
    paths = [target] if isinstance(target, str) else []
    return paths + job.download_job_logs(directory)


def finish(job: LinkJob, final: JobStatus) -> None:
    """Exit 1 with the Hub's reason when the job failed."""
    if final.failure:
        reason = f": {final.message}" if final.message else ""
        say(Text.assemble(f"job {job.job_id} ", ("FAILED", "bold red"), reason))
        click.get_current_context().exit(ExitCode.JOB_FAILED)


def print_rows(rows: list[tuple[str, Text]]) -> None:
    out = stdout_console()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.print(Text.assemble((f"{label:<{width}}", "bold"), "  ", value))
