"""``aihubctl``: submit, watch and download link jobs through the aihubd daemon.

Data (job ids, statuses, paths, tables, JSON) goes to stdout; progress and messages go to
stderr. Live displays and progress bars appear only on a terminal; NO_COLOR is respected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from .cli_app import PROG, App, Group
from .cli_changes import name, share, track, untrack
from .cli_complete import completion_script
from .cli_daemon import daemon, daemon_status
from .cli_devices import devices
from .cli_jobs import jobs, link, status, wait, watch
from .cli_results import artifacts, download, results
from .exit_codes import exit_codes_help

__all__ = ["cli", "main"]


@click.group(
    cls=Group,
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
    app = App(socket)
    ctx.obj = app
    ctx.call_on_close(app.close)


# Each command group lives in its own module; the hidden aliases `list` and `info` are registered here.
for _command in (
    *(link, status, jobs, wait, watch),
    *(artifacts, download, results),
    *(name, share, track, untrack),
    *(daemon, devices),
):
    cli.add_command(_command)
cli.commands["list"] = click.Command(
    "list", callback=jobs.callback, params=jobs.params, hidden=True, help="Same as `jobs`."
)
cli.commands["info"] = click.Command(
    "info",
    callback=daemon_status.callback,
    params=daemon_status.params,
    hidden=True,
    help="Same as `daemon status`.",
)


# shell completion


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


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)
