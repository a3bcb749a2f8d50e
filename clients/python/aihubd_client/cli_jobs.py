"""``aihubctl`` job commands: ``link`` (submit), ``status``, ``jobs``, ``wait`` and ``watch``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from .cli_app import (
    LINK_JOB_STATES,
    PROG,
    SINCE,
    App,
    download_default,
    echo_json,
    finish,
    follow_job,
    json_option,
    output_directory,
    print_rows,
    say,
    stderr_console,
    stdout_console,
    stdout_is_terminal,
    timeout_option,
)
from .cli_complete import complete_device_names, complete_job_ids
from .cli_live import watch_jobs
from .client import Client
from .exit_codes import ExitCode, exit_codes_help
from .job import LinkJob
from .render import job_rows, job_to_dict, jobs_table

__all__ = ["jobs", "link", "status", "wait", "watch"]


@click.command(epilog=exit_codes_help())
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
@json_option
@click.pass_obj
def link(
    app: App,
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
        say(f"submitted {job.url}")
    status = job.last_status
    paths: list[str] | None = None
    if wait_ or download_dir:
        try:
            status = follow_job(job, started)
        except KeyboardInterrupt:
            say(f"job {job.job_id} keeps running; resume with: {PROG} wait {job.job_id}")
            raise
        if download_dir is not None:
            paths = download_default(job, output_directory(download_dir), progress=None)
            if not as_json:
                for path in paths:
                    click.echo(path)
    if as_json:
        document = job_to_dict(job)
        if paths is not None:
            document["downloaded"] = paths
        echo_json(document)
    finish(job, status)


# reading


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@json_option
@click.option("--refresh", is_flag=True, help="Have the daemon poll the Hub once before answering.")
@click.pass_obj
def status(app: App, job_id: str, as_json: bool, refresh: bool) -> None:
    """Show a job as the daemon knows it (never blocks). Exit 1 if it FAILED, like `wait`.

    A job the daemon does not track is read from the Hub once, without tracking it (use
    `aihubctl track JOB` to have the daemon follow it).
    """
    client = app.client()
    if refresh:
        client.refresh_jobs()
    job = client.peek_job(job_id)
    if as_json:
        echo_json(job_to_dict(job))
    else:
        print_rows(job_rows(job))
    finish(job, job.last_status)


@click.command(epilog=exit_codes_help())
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
    type=SINCE,
    default=None,
    metavar="WHEN",
    help="Only jobs created since WHEN: a duration back from now (90s, 30m, 2h, 7d) or a date/time "
    "(2026-12-01, 2026-12-01T09:30).",
)
@click.option("--refresh", is_flag=True, help="Ask the Hub first (one poll cycle), then list.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@json_option
@click.pass_obj
def jobs(
    app: App,
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
        echo_json({"jobs": [job_to_dict(job) for job in shown], "total": total})
        return
    if shown:
        stdout_console().print(jobs_table(shown))
    if total > offset + len(shown):
        say(f"showing {len(shown)} of {total} jobs; use --limit/--offset for more")
    elif not shown:
        say("no jobs")


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


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@timeout_option
@json_option
@click.pass_obj
def wait(app: App, job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a job to end, with a live status line; print the final status.

    Rides out a daemon restart (reconnects for up to a minute). Exit 1 if the job failed.
    """
    started = time.monotonic()
    job = app.client().get_job(job_id)
    final = follow_job(job, started, timeout)
    if as_json:
        echo_json(job_to_dict(job))
    else:
        click.echo(final.code)
    finish(job, final)


@click.command(epilog=exit_codes_help())
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
@json_option
@click.pass_obj
def watch(
    app: App,
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
    live = stdout_is_terminal() and not as_json
    failed = asyncio.run(
        watch_jobs(
            app.socket,
            job_ids,
            limit,
            stdout_console(),
            live,
            as_json,
            states=states,
            name_contains=name_contains,
            follow=follow,
            err=stderr_console(),
        )
    )
    if failed:
        click.get_current_context().exit(ExitCode.JOB_FAILED)
