"""``aihubctl`` commands that fetch what a job made: ``artifacts``, ``download``, ``results``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from .cli_app import (
    App,
    download_default,
    echo_json,
    finish,
    follow_job,
    json_option,
    output_directory,
    print_rows,
    say,
    timeout_option,
)
from .cli_complete import complete_job_ids
from .exit_codes import ExitCode, exit_codes_help
from .values import ArtifactType

__all__ = ["artifacts", "download", "results"]


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@timeout_option
@json_option
@click.pass_obj
def artifacts(app: App, job_id: str, timeout: float | None, as_json: bool) -> None:
    """List the artifact types a job offers (waits for the job to end)."""
    job = app.client().get_job(job_id)
    if not job.last_status.finished:
        follow_job(job, time.monotonic(), timeout)
    kinds = job.get_available_artifacts(timeout)
    if as_json:
        echo_json([kind.name for kind in kinds])
    else:
        for kind in kinds:
            click.echo(kind.name)


@click.command(epilog=exit_codes_help())
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
@timeout_option
@json_option
@click.pass_obj
def download(
    app: App,
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
    directory = output_directory(directory)
    job = app.client().get_job(job_id)
    final = job.last_status
    if not final.finished:
        final = follow_job(job, time.monotonic(), timeout)
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
        paths = download_default(job, directory, progress)
    if as_json:
        document: dict[str, Any] = {"job_id": job.job_id, "status": final.code, "paths": paths}
        if missing:
            document["missing"] = missing
        echo_json(document)
    else:
        for path in paths:
            click.echo(path)
    finish(job, final)
    if missing:
        offered = ", ".join(kind.name for kind in job.available_artifacts) or "none"
        say(f"job {job.job_id} has no {' or '.join(missing)} artifacts (it offers: {offered})")
        click.get_current_context().exit(ExitCode.JOB_FAILED)


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@timeout_option
@json_option
@click.pass_obj
def results(app: App, job_id: str, directory: Path, timeout: float | None, as_json: bool) -> None:
    """Logs and target model into DIRECTORY, like qai_hub's download_results; a summary.

    Exit 1 if the job failed.
    """
    directory = output_directory(directory)
    job = app.client().get_job(job_id)
    if not job.last_status.finished:
        follow_job(job, time.monotonic(), timeout)
    result = job.download_results(directory, timeout)
    if as_json:
        echo_json(
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
        print_rows([*rows, ("directory", Text(result.artifacts_dir))])
    finish(job, result.status)
