"""``aihubctl``: submit, watch and download link jobs through the aihubd daemon.

Data (job ids, statuses, paths, JSON) goes to stdout; progress and messages go to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .client import Client
from .errors import AihubdError
from .exit_codes import ExitCode, exit_code_for, exit_codes_help
from .job import LinkJob
from .render import daemon_info_rows, job_list_lines, job_rows, job_to_dict, progress_line
from .status import JobStatus, State

__all__ = ["cli", "main"]

PROG = "aihubctl"


def _stdout() -> Console:
    # Built per use: click's test runner swaps sys.stdout; rich honours NO_COLOR itself.
    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _say(message: str | Text) -> None:
    """A message for the user, on stderr."""
    _stderr().print(Text.assemble(f"{PROG}: ", message))


def _report(exc: BaseException) -> None:
    """The one-line error for a failed command, on stderr."""
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, (AihubdError, TimeoutError, OSError)):
        text = f"unexpected {type(exc).__name__}: {text}"
    _stderr().print(Text.assemble(f"{PROG}: ", ("error:", "bold red"), " ", text))


class _App:
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


class _Group(click.Group):
    """Turns library errors and Ctrl-C into one stderr line and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _say("interrupted")
            ctx.exit(ExitCode.INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
            _report(exc)
            ctx.exit(exit_code_for(exc))


@click.group(
    cls=_Group,
    epilog=exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--socket",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The daemon's socket (default: $AIHUBD_SOCKET, else aihubd/aihubd.sock "
    "in the user runtime dir).",
)
@click.version_option(package_name="aihubd", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, socket: Path | None) -> None:
    """Submit, watch and download Qualcomm AI Hub link jobs through the local aihubd daemon."""
    app = _App(socket)
    ctx.obj = app
    ctx.call_on_close(app.close)


@cli.command(epilog=exit_codes_help())
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option(
    "--device", "-d", required=True, help='Hub device name, e.g. "Snapdragon 8 Elite QRD".'
)
@click.option("--name", default=None, help="Job name (default: the last model's name).")
@click.option("--options", default="", help="Link options passed to the Hub as-is.")
@click.option("--project", default=None, help="Hub project id.")
@click.option(
    "--wait", "wait_", is_flag=True, help="Show state changes on stderr until the job ends."
)
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Wait, then download the target model and logs into this directory.",
)
@click.pass_obj
def link(
    app: _App,
    models: Sequence[str],
    device: str,
    name: str | None,
    options: str,
    project: str | None,
    wait_: bool,
    download_dir: Path | None,
) -> None:
    """Submit a link job for MODEL... (local .dlc files or Hub model ids); prints the job id."""
    started = time.monotonic()
    job = app.client().submit_link_job(
        list(models), device, name=name, options=options, project=project
    )
    click.echo(job.job_id)
    if not (wait_ or download_dir):
        return
    try:
        status = _follow(job, started)
    except KeyboardInterrupt:
        _say(f"job {job.job_id} keeps running; resume with: {PROG} wait {job.job_id}")
        raise
    if download_dir is not None:
        _download(job, download_dir)
    _finish(job, status)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as a JSON object.")
@click.option("--refresh", is_flag=True, help="Have the daemon poll the Hub once before answering.")
@click.pass_obj
def status(app: _App, job_id: str, as_json: bool, refresh: bool) -> None:
    """Show a job as the daemon knows it (never blocks)."""
    client = app.client()
    if refresh:
        client.refresh_jobs()
    job = client.get_job(job_id)
    if as_json:
        click.echo(json.dumps(job_to_dict(job), indent=2))
    else:
        _print_rows(job_rows(job))


@cli.command(epilog=exit_codes_help())
@click.argument("job_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Give up after this many seconds (exit 4); the job keeps running.",
)
@click.pass_obj
def wait(app: _App, job_id: str, timeout: float | None) -> None:
    """Show each state change of a job until it ends; print the final status."""
    started = time.monotonic()
    job = app.client().get_job(job_id)
    status = _follow(job, started, _whole(timeout))
    click.echo(status.code)
    _finish(job, status)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def download(app: _App, job_id: str, directory: Path) -> None:
    """Download a job's target model and logs into DIRECTORY (waits for the job); prints paths."""
    started = time.monotonic()
    job = app.client().get_job(job_id)
    status = job.last_status
    if not status.finished:
        status = _follow(job, started)
    _download(job, directory)
    _finish(job, status)


@cli.command("list", epilog=exit_codes_help())
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.name for state in State], case_sensitive=False),
    metavar="STATE",
    help="Only jobs in this state, e.g. SUCCESS, FAILED, LINKING_MODELS (repeatable).",
)
@click.option("--name", "name_contains", default="", help="Only jobs whose name contains this.")
@click.option(
    "--limit", type=click.IntRange(0, 1000), default=0, help="At most this many (0: the daemon's 50)."
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object with jobs and total.")
@click.pass_obj
def list_(
    app: _App, states: tuple[str, ...], name_contains: str, limit: int, offset: int, as_json: bool
) -> None:
    """List the jobs the daemon tracks, newest first."""
    page = app.client().list_jobs(
        [state.upper() for state in states], name_contains, limit=limit, offset=offset
    )
    if as_json:
        document = {"jobs": [job_to_dict(job) for job in page.jobs], "total": page.total}
        click.echo(json.dumps(document, indent=2))
        return
    out = _stdout()
    for line in job_list_lines(page.jobs):
        out.print(line)
    if page.total > offset + len(page.jobs):
        _say(f"showing {len(page.jobs)} of {page.total} jobs; use --limit/--offset for more")


@cli.command(epilog=exit_codes_help())
@click.argument("job_id")
@click.pass_obj
def track(app: _App, job_id: str) -> None:
    """Have the daemon follow a job submitted elsewhere (web UI, qai-hub); prints its status."""
    job = app.client().track_job(job_id)
    click.echo(job.last_status.code)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id")
@click.pass_obj
def untrack(app: _App, job_id: str) -> None:
    """Stop following a job (the Hub job itself is untouched)."""
    if not app.client().untrack_job(job_id):
        _say(f"job {job_id} was not tracked")


@cli.group(epilog=exit_codes_help())
def daemon() -> None:
    """The daemon itself."""


@daemon.command("status", epilog=exit_codes_help())
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON object.")
@click.pass_obj
def daemon_status(app: _App, as_json: bool) -> None:
    """Version, Hub reachability, account, job counts and cache size of the daemon."""
    info = app.client().daemon_info()
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(info), indent=2))
    else:
        _print_rows(daemon_info_rows(info))


def _follow(job: LinkJob, started: float, timeout: float | None = None) -> JobStatus:
    """Print each state change with the time since ``started`` on stderr; the final status."""
    err = _stderr()
    shown = None
    status = job.last_status
    for status in job.iter_status(timeout):
        if status.code != shown:
            err.print(progress_line(time.monotonic() - started, status))
            shown = status.code
    return status


def _download(job: LinkJob, directory: Path) -> None:
    """Target model (if any) then logs into ``directory``; each path on stdout."""
    directory.expanduser().mkdir(parents=True, exist_ok=True)
    target = job.download_target_model(directory)
    if isinstance(target, str):
        click.echo(target)
    for path in job.download_job_logs(directory):
        click.echo(path)


def _finish(job: LinkJob, status: JobStatus) -> None:
    """Exit 1 with the Hub's reason when the job failed."""
    if status.failure:
        reason = f": {status.message}" if status.message else ""
        _say(Text.assemble(f"job {job.job_id} ", ("FAILED", "bold red"), reason))
        click.get_current_context().exit(ExitCode.JOB_FAILED)


def _print_rows(rows: list[tuple[str, Text]]) -> None:
    out = _stdout()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.print(Text.assemble((f"{label:<{width}}", "bold"), "  ", value))


def _whole(seconds: float | None) -> float | None:
    """5.0 -> 5, so messages read "after 5 seconds"."""
    if seconds is not None and float(seconds).is_integer():
        return int(seconds)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)
