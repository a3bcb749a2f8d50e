"""``aihubctl`` commands that change a job or what the daemon follows: ``name``, ``share``,
``track``, ``untrack``.
"""

from __future__ import annotations

import click

from .cli_app import (
    App,
    echo_json,
    json_option,
    say,
)
from .cli_complete import complete_job_ids
from .exit_codes import exit_codes_help
from .render import job_to_dict

__all__ = ["name", "share", "track", "untrack"]


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("new_name", metavar="NAME")
@json_option
@click.pass_obj
def name(app: App, job_id: str, new_name: str, as_json: bool) -> None:
    """Rename a job on the Hub (every client of the daemon sees it at once)."""
    job = app.client().get_job(job_id)
    job.set_name(new_name)
    if as_json:
        echo_json(job_to_dict(job))


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option("--add", "add", multiple=True, metavar="EMAIL", help="Share with this person.")
@click.option("--remove", "remove", multiple=True, metavar="EMAIL", help="Stop sharing with them.")
@click.option("--disable", is_flag=True, help="Stop sharing with anyone.")
@json_option
@click.pass_obj
def share(
    app: App,
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
        say(f"job {job.job_id} is no longer shared with anyone")
    elif add or remove:
        job.modify_sharing(add_emails=list(add), delete_emails=list(remove))
        if add:
            say(f"job {job.job_id} is now shared with {', '.join(add)}")
        if remove:
            say(f"job {job.job_id} is no longer shared with {', '.join(remove)}")
    emails = job.get_sharing()
    if as_json:
        echo_json(emails)
    else:
        for email in emails:
            click.echo(email)
        if not emails and not disable:
            say(f"job {job.job_id} is not shared")


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@json_option
@click.pass_obj
def track(app: App, job_id: str, as_json: bool) -> None:
    """Have the daemon follow a job submitted elsewhere (web UI, qai-hub); prints its status."""
    job = app.client().track_job(job_id)
    if as_json:
        echo_json(job_to_dict(job))
    else:
        click.echo(job.last_status.code)


@click.command(epilog=exit_codes_help())
@click.argument("job_id", shell_complete=complete_job_ids)
@click.pass_obj
def untrack(app: App, job_id: str) -> None:
    """Stop following a job (the Hub job itself is untouched)."""
    if not app.client().untrack_job(job_id):
        say(f"job {job_id} was not tracked")
