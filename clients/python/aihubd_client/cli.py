"""``aihubctl``: submit, watch and download link jobs through the aihubd daemon.

Data (job ids, statuses, paths, tables, JSON) goes to stdout; progress and messages go to
stderr. Live displays and progress bars appear only on a terminal; NO_COLOR is respected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .cli_complete import complete_device_names, complete_job_ids, completion_script
from .cli_live import follow, is_terminal, stream_target_model, watch_jobs
from .cli_since import SinceType
from .client import Client
from .destinations import check_output_directory
from .errors import AihubdError
from .exit_codes import ExitCode, exit_code_for, exit_codes_help
from .job import LinkJob
from .render import daemon_info_rows, devices_table, job_rows, job_to_dict, jobs_table
from .status import JobStatus, State
from .values import ArtifactType

__all__ = ["cli", "main"]

PROG = "aihubctl"
# The states a link job can be in (qai_hub.LinkJob's in-progress states, then the final ones).
LINK_JOB_STATES = (State.CREATED, State.LINKING_MODELS, State.SUCCESS, State.FAILED)
_TIMEOUT_HELP = "Give up waiting after this many seconds (exit 4); the job keeps running."


def _stdout() -> Console:
    # Built per use: click's test runner swaps sys.stdout; rich honours NO_COLOR itself.
    # Off a terminal, tables are never squeezed to 80 columns (they are for other programs).
    width = None if is_terminal(sys.stdout) else 4096
    return Console(highlight=False, soft_wrap=True, width=width)


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


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


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
        except Exception as exc:
            _report(exc)
            ctx.exit(exit_code_for(exc))


_SINCE = SinceType()
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
_timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS", help=_TIMEOUT_HELP
)


@click.group(
    cls=_Group,
    epilog=exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--socket",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The daemon's socket (default: $AIHUBD_SOCKET, else aihubd/aihubd.sock in the user runtime dir).",
)
@click.version_option(package_name="aihubd", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, socket: Path | None) -> None:
    """Submit, watch and download Qualcomm AI Hub link jobs through the local aihubd daemon.

    Data goes to stdout, progress and messages to stderr; --json gives machine-readable
    output on every command that reads something.
    """
    app = _App(socket)
    ctx.obj = app
    ctx.call_on_close(app.close)


# submitting


@cli.command(epilog=exit_codes_help())
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option(
    "--device",
    "-d",
    required=True,
    shell_complete=complete_device_names,
    help='Hub device name, e.g. "Snapdragon 8 Elite QRD" (`aihubctl devices` lists them).',
)
@click.option("--name", default=None, help="Job name (default: the last model's name).")
@click.option("--options", default="", help="Link options passed to the Hub as-is.")
@click.option("--project", default=None, help="Hub project id.")
@click.option("--wait", "wait_", is_flag=True, help="Show the status until the job ends.")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Wait, then download the target model and logs into this directory.",
)
@_json_option
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
    as_json: bool,
) -> None:
    """Submit a link job for MODEL... (local .dlc files or Hub model ids); prints the job id.

    The job id goes to stdout, its URL on the Hub to stderr. With --json, prints the job as a
    JSON object instead (after waiting, with --wait; with the paths written under "downloaded",
    with --download, delivered exactly as `download` delivers them). Exit 1 if a waited-for job
    failed.
    """
    started = time.monotonic()
    job = app.client().submit_link_job(list(models), device, name=name, options=options, project=project)
    assert isinstance(job, LinkJob)
    if not as_json:
        click.echo(job.job_id)
        _say(f"submitted {job.url}")
    status = job.last_status
    paths: list[str] | None = None
    if wait_ or download_dir:
        try:
            status = _follow(job, started)
        except KeyboardInterrupt:
            _say(f"job {job.job_id} keeps running; resume with: {PROG} wait {job.job_id}")
            raise
        if download_dir is not None:
            paths = _download_default(job, _output_directory(download_dir), progress=None)
            if not as_json:
                for path in paths:
                    click.echo(path)
    if as_json:
        document = job_to_dict(job)
        if paths is not None:
            document["downloaded"] = paths
        _echo_json(document)
    _finish(job, status)


# reading


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@_json_option
@click.option("--refresh", is_flag=True, help="Have the daemon poll the Hub once before answering.")
@click.pass_obj
def status(app: _App, job_id: str, as_json: bool, refresh: bool) -> None:
    """Show a job as the daemon knows it (never blocks). Exit 1 if it FAILED, like `wait`.

    A job the daemon does not track is read from the Hub once, without tracking it (use
    `aihubctl track JOB` to have the daemon follow it).
    """
    client = app.client()
    if refresh:
        client.refresh_jobs()
    job = client.peek_job(job_id)
    if as_json:
        _echo_json(job_to_dict(job))
    else:
        _print_rows(job_rows(job))
    _finish(job, job.last_status)


@cli.command(epilog=exit_codes_help())
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.name for state in LINK_JOB_STATES], case_sensitive=False),
    metavar="STATE",
    help="Only jobs in this state: CREATED, LINKING_MODELS, SUCCESS or FAILED (repeatable).",
)
@click.option("--name", "name_contains", default="", help="Only jobs whose name contains this.")
@click.option(
    "--since",
    type=_SINCE,
    default=None,
    metavar="WHEN",
    help="Only jobs created since WHEN: a duration back from now (90s, 30m, 2h, 7d) or a date/time "
    "(2026-12-01, 2026-12-01T09:30).",
)
@click.option("--refresh", is_flag=True, help="Ask the Hub first (one poll cycle), then list.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@_json_option
@click.pass_obj
def jobs(
    app: _App,
    states: tuple[str, ...],
    name_contains: str,
    since: datetime | None,
    refresh: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List the jobs the daemon knows, finished ones too, newest first, as a table.

    With `aihubd serve --hub-scope mine` (the default) that is every link job of yours the daemon
    has seen, wherever it was submitted. With --json: an object with "jobs" (one object per job)
    and "total" (all that match).
    """
    client = app.client()
    if refresh:
        client.refresh_jobs()
    wanted = [state.upper() for state in states]
    if since is None:
        page = client.list_jobs(wanted, name_contains, limit=limit, offset=offset)
        shown, total = page.jobs, page.total
    else:
        recent = _jobs_since(client, wanted, name_contains, since)
        shown, total = recent[offset : offset + limit], len(recent)
    if as_json:
        _echo_json({"jobs": [job_to_dict(job) for job in shown], "total": total})
        return
    if shown:
        _stdout().print(jobs_table(shown))
    if total > offset + len(shown):
        _say(f"showing {len(shown)} of {total} jobs; use --limit/--offset for more")
    elif not shown:
        _say("no jobs")


def _jobs_since(client: Client, states: list[str], name_contains: str, since: datetime) -> list[LinkJob]:
    """Every matching job created at or after ``since`` (the daemon lists newest first)."""
    found: list[LinkJob] = []
    offset = 0
    while True:
        page = client.list_jobs(states, name_contains, limit=1000, offset=offset)
        found.extend(job for job in page.jobs if job.date >= since)
        offset += len(page.jobs)
        if not page.jobs or page.jobs[-1].date < since or offset >= page.total:
            return found


cli.commands["list"] = click.Command(
    "list", callback=jobs.callback, params=jobs.params, hidden=True, help="Same as `jobs`."
)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@_timeout_option
@_json_option
@click.pass_obj
def wait(app: _App, job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a job to end, with a live status line; print the final status.

    Rides out a daemon restart (reconnects for up to a minute). Exit 1 if the job failed.
    """
    started = time.monotonic()
    job = app.client().get_job(job_id)
    final = _follow(job, started, timeout)
    if as_json:
        _echo_json(job_to_dict(job))
    else:
        click.echo(final.code)
    _finish(job, final)


@cli.command(epilog=exit_codes_help())
@click.argument("job_ids", nargs=-1, metavar="[JOB]...", shell_complete=complete_job_ids)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.name for state in LINK_JOB_STATES], case_sensitive=False),
    metavar="STATE",
    help="Only jobs in this state: CREATED, LINKING_MODELS, SUCCESS or FAILED (repeatable); a "
    "job leaving it is shown once more.",
)
@click.option("--name", "name_contains", default="", help="Only jobs whose name contains this.")
@click.option("--follow", "-f", is_flag=True, help="Keep running after every job finished: show new jobs as they come.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Show at most this many finished jobs from before the watch started (all running ones are shown).",
)
@_json_option
@click.pass_obj
def watch(
    app: _App,
    job_ids: tuple[str, ...],
    states: tuple[str, ...],
    name_contains: str,
    follow: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Watch jobs live (default: every job the daemon follows, new ones as they appear).

    Ends once none is running (with --follow: on Ctrl-C). On a terminal: a live table,
    redrawn on every change. Otherwise one line per job and change, every state transition
    kept (one JSON object per line with --json). Says "reconnecting…" while the daemon restarts,
    and goes on where it was. Exit 1 if a job it saw running failed.
    """
    live = is_terminal(sys.stdout) and not as_json
    failed = asyncio.run(
        watch_jobs(
            app.socket,
            job_ids,
            limit,
            _stdout(),
            live,
            as_json,
            states=states,
            name_contains=name_contains,
            follow=follow,
            err=_stderr(),
        )
    )
    if failed:
        click.get_current_context().exit(ExitCode.JOB_FAILED)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@_timeout_option
@_json_option
@click.pass_obj
def artifacts(app: _App, job_id: str, timeout: float | None, as_json: bool) -> None:
    """List the artifact types a job offers (waits for the job to end)."""
    job = app.client().get_job(job_id)
    if not job.last_status.finished:
        _follow(job, time.monotonic(), timeout)
    kinds = job.get_available_artifacts(timeout)
    if as_json:
        _echo_json([kind.name for kind in kinds])
    else:
        for kind in kinds:
            click.echo(kind.name)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice([kind.name for kind in ArtifactType], case_sensitive=False),
    metavar="TYPE",
    help="Download artifacts of this type (DEVICE_LOG, HUB_LOG, PROFILE_TRACE, QHAS_SUMMARY) "
    "instead of the target model and logs (repeatable).",
)
@click.option("--logs", is_flag=True, help="Download the logs only (no target model).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Stream the target model into a private copy with a progress bar (default: no; the "
    "daemon delivers it from its cache).",
)
@_timeout_option
@_json_option
@click.pass_obj
def download(
    app: _App,
    job_id: str,
    directory: Path,
    types: tuple[str, ...],
    logs: bool,
    progress: bool | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Download a job's target model and logs into DIRECTORY (waits for the job); prints paths.

    Paths printed are absolute. The target model keeps the Hub's filename (made unique if
    taken); logs and other artifacts overwrite existing files. Files come from the daemon's
    cache as read-only hardlinks (or copies, per `aihubd serve --no-hardlinks`); --progress
    streams the target model into a private copy instead. Exit 1 if the job failed (its logs
    are still saved) or has no artifact of a --type asked for.
    """
    directory = _output_directory(directory)
    job = app.client().get_job(job_id)
    final = job.last_status
    if not final.finished:
        final = _follow(job, time.monotonic(), timeout)
    directory.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    if types or logs:
        paths = job.download_job_logs(directory) if logs else []
        for kind in types:
            found = job.download_artifacts_for_type(directory, kind.upper())
            if not found:
                missing.append(kind.upper())
            paths += found
    else:
        paths = _download_default(job, directory, progress)
    if as_json:
        document: dict[str, Any] = {"job_id": job.job_id, "status": final.code, "paths": paths}
        if missing:
            document["missing"] = missing
        _echo_json(document)
    else:
        for path in paths:
            click.echo(path)
    _finish(job, final)
    if missing:
        offered = ", ".join(kind.name for kind in job.available_artifacts) or "none"
        _say(f"job {job.job_id} has no {' or '.join(missing)} artifacts (it offers: {offered})")
        click.get_current_context().exit(ExitCode.JOB_FAILED)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_timeout_option
@_json_option
@click.pass_obj
def results(app: _App, job_id: str, directory: Path, timeout: float | None, as_json: bool) -> None:
    """Logs and target model into DIRECTORY, like qai_hub's download_results; a summary.

    Exit 1 if the job failed.
    """
    directory = _output_directory(directory)
    job = app.client().get_job(job_id)
    if not job.last_status.finished:
        _follow(job, time.monotonic(), timeout)
    result = job.download_results(directory, timeout)
    if as_json:
        _echo_json(
            {
                "job_id": job.job_id,
                "status": result.status.code,
                "message": result.status.message,
                "url": result.url,
                "artifacts_dir": result.artifacts_dir,
            }
        )
    else:
        rows = [("status", Text(result.status.code)), ("url", Text(result.url))]
        _print_rows([*rows, ("directory", Text(result.artifacts_dir))])
    _finish(job, result.status)


# changing


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("new_name", metavar="NAME")
@_json_option
@click.pass_obj
def name(app: _App, job_id: str, new_name: str, as_json: bool) -> None:
    """Rename a job on the Hub (every client of the daemon sees it at once)."""
    job = app.client().get_job(job_id)
    job.set_name(new_name)
    if as_json:
        _echo_json(job_to_dict(job))


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option("--add", "add", multiple=True, metavar="EMAIL", help="Share with this person.")
@click.option("--remove", "remove", multiple=True, metavar="EMAIL", help="Stop sharing with them.")
@click.option("--disable", is_flag=True, help="Stop sharing with anyone.")
@_json_option
@click.pass_obj
def share(
    app: _App,
    job_id: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    disable: bool,
    as_json: bool,
) -> None:
    """Show who a job is shared with, or change it; prints the emails (one per line).

    "not shared" (on stderr) when nobody is; each change is confirmed on stderr.
    """
    if disable and (add or remove):
        raise click.UsageError("--disable cannot be combined with --add or --remove")
    job = app.client().get_job(job_id)
    if disable:
        job.disable_sharing()
        _say(f"job {job.job_id} is no longer shared with anyone")
    elif add or remove:
        job.modify_sharing(add_emails=list(add), delete_emails=list(remove))
        if add:
            _say(f"job {job.job_id} is now shared with {', '.join(add)}")
        if remove:
            _say(f"job {job.job_id} is no longer shared with {', '.join(remove)}")
    emails = job.get_sharing()
    if as_json:
        _echo_json(emails)
    else:
        for email in emails:
            click.echo(email)
        if not emails and not disable:
            _say(f"job {job.job_id} is not shared")


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@_json_option
@click.pass_obj
def track(app: _App, job_id: str, as_json: bool) -> None:
    """Have the daemon follow a job submitted elsewhere (web UI, qai-hub); prints its status."""
    job = app.client().track_job(job_id)
    if as_json:
        _echo_json(job_to_dict(job))
    else:
        click.echo(job.last_status.code)


@cli.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.pass_obj
def untrack(app: _App, job_id: str) -> None:
    """Stop following a job (the Hub job itself is untouched)."""
    if not app.client().untrack_job(job_id):
        _say(f"job {job_id} was not tracked")


# the daemon


@cli.group(epilog=exit_codes_help())
def daemon() -> None:
    """The daemon itself."""


@daemon.command("status", epilog=exit_codes_help())
@_json_option
@click.pass_obj
def daemon_status(app: _App, as_json: bool) -> None:
    """Pid, socket, version, uptime, Hub URL and health, token source, jobs in flight, cache.

    With the embedded emulator (`aihubd serve --hub emulator`), also its token: point the
    official client at it with `qai_hub.Client(config=qai_hub.ClientConfig(api_url=HUB,
    web_url=HUB, api_token=TOKEN))`.
    """
    info = app.client().daemon_info()
    if as_json:
        _echo_json(dataclasses.asdict(info))
    else:
        _print_rows(daemon_info_rows(info))


@daemon.command("stop", epilog=exit_codes_help())
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the daemon to exit.",
)
@click.pass_obj
def daemon_stop(app: _App, timeout: float) -> None:
    """Stop the daemon cleanly (as SIGTERM does: waits end with a resumable status)."""
    client = app.client()
    pid = client.stop_daemon()
    deadline = time.monotonic() + timeout
    while _process_alive(pid):
        if time.monotonic() > deadline:
            raise AihubdError(f"aihubd (pid {pid}) is still running {timeout:g} s after being asked to stop")
        time.sleep(0.05)
    _say(f"aihubd (pid {pid}) stopped")


@daemon.command("check", epilog=exit_codes_help())
@_json_option
@click.pass_context
def daemon_check(ctx: click.Context, as_json: bool) -> None:
    """A full check of the daemon's own state: SQLite's integrity_check of its database, and every
    cached file hashed against its digest (damaged ones are dropped, to be fetched again).
    Exits 4 when the database has problems."""
    from aihubd_api.v1 import aihubd_pb2 as pb

    from .channel import Call

    app: _App = ctx.obj
    call: Call[pb.CheckDaemonResponse] = Call("CheckDaemon", pb.CheckDaemonRequest(), service="daemon")
    report = app.client()._connection.unary(call)
    if as_json:
        _echo_json(
            {
                "database_ok": report.database_ok,
                "database_problems": list(report.database_problems),
                "blobs_checked": report.blobs_checked,
                "blobs_dropped": report.blobs_dropped,
            }
        )
    else:
        problems = "; ".join(report.database_problems[:5])
        _print_rows(
            [
                ("Database", Text("ok", style="green") if report.database_ok else Text(problems, style="red")),
                ("Cached files", Text(f"{report.blobs_checked} checked, {report.blobs_dropped} damaged and dropped")),
            ]
        )
    if not report.database_ok:
        ctx.exit(ExitCode.ERROR)


cli.commands["info"] = click.Command(
    "info",
    callback=daemon_status.callback,
    params=daemon_status.params,
    hidden=True,
    help="Same as `daemon status`.",
)


# devices and shell completion


@cli.command(epilog=exit_codes_help())
@click.option("--name", default="", shell_complete=complete_device_names, help="Only this device (any case).")
@click.option(
    "--os", "os_version", default="", help='OS version ("14") or interval ("[14,15)"); needs --name or --attributes.'
)
@click.option(
    "--attributes",
    "attributes",
    multiple=True,
    metavar="ATTR",
    help='Only devices with this attribute, e.g. "framework:qnn" (repeatable).',
)
@_json_option
@click.pass_obj
def devices(app: _App, name: str, os_version: str, attributes: tuple[str, ...], as_json: bool) -> None:
    """List the Hub's devices (name, OS, attributes); the daemon caches the list for an hour.

    A name no device has is answered with the closest real names.
    """
    try:
        found = app.client().get_devices(name=name, os=os_version, attributes=list(attributes))
    except ValueError as exc:  # qai_hub's own check: --os alone
        raise click.UsageError(str(exc)) from None
    if as_json:
        _echo_json([dataclasses.asdict(device) for device in found])
    elif found:
        _stdout().print(devices_table(found))
    else:
        _say("no devices match")


@cli.command(epilog=exit_codes_help())
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (it also completes job ids and device
    names, asked from the running daemon).

    \b
    bash:  eval "$(aihubctl completion bash)"         (in ~/.bashrc)
    zsh:   eval "$(aihubctl completion zsh)"          (in ~/.zshrc)
    fish:  aihubctl completion fish > ~/.config/fish/completions/aihubctl.fish
    """
    click.echo(completion_script(cli, PROG, shell))


# helpers


def _output_directory(directory: Path) -> Path:
    """DIRECTORY for downloads, absolute (so every path printed is); a clear UserError when it,
    or a directory above it, is a file."""
    return Path(check_output_directory(directory))


def _process_alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): kill(0) is all there is
        return True


def _follow(job: LinkJob, started: float, timeout: float | None = None) -> JobStatus:
    """Wait for the job with its status on stderr (a live line on a terminal)."""
    return follow(job, started, _stderr(), is_terminal(sys.stderr), timeout)


def _download_default(job: LinkJob, directory: Path, progress: bool | None) -> list[str]:
    """Target model (if any) then logs into ``directory``; the paths written."""
    directory = _output_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A client-written stream only when asked: the daemon's delivery (hardlink or copy) is the default.
    target = stream_target_model(job, directory, _stderr(), True) if progress else job.download_target_model(directory)
    paths = [target] if isinstance(target, str) else []
    return paths + job.download_job_logs(directory)


def _finish(job: LinkJob, final: JobStatus) -> None:
    """Exit 1 with the Hub's reason when the job failed."""
    if final.failure:
        reason = f": {final.message}" if final.message else ""
        _say(Text.assemble(f"job {job.job_id} ", ("FAILED", "bold red"), reason))
        click.get_current_context().exit(ExitCode.JOB_FAILED)


def _print_rows(rows: list[tuple[str, Text]]) -> None:
    out = _stdout()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.print(Text.assemble((f"{label:<{width}}", "bold"), "  ", value))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)
