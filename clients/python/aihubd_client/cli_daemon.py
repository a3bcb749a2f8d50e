"""``aihubctl daemon``: ``status``, ``stop`` and ``check`` of the daemon itself."""

from __future__ import annotations

import dataclasses
import os
import time

import click
from rich.text import Text

from .cli_app import (
    App,
    echo_json,
    json_option,
    print_rows,
    say,
)
from .errors import AihubdError
from .exit_codes import ExitCode, exit_codes_help
from .render import daemon_info_rows

__all__ = ["daemon", "daemon_status"]


@click.group(epilog=exit_codes_help())
def daemon() -> None:
    """The daemon itself."""


@daemon.command("status", epilog=exit_codes_help())
@json_option
@click.pass_obj
def daemon_status(app: App, as_json: bool) -> None:
    """Pid, socket, version, uptime, Hub URL and health, token source, jobs in flight, cache.

    With the embedded emulator (`aihubd serve --hub emulator`), also its token: point the
    official client at it with `qai_hub.Client(config=qai_hub.ClientConfig(api_url=HUB,
    web_url=HUB, api_token=TOKEN))`.
    """
    info = app.client().daemon_info()
    if as_json:
        echo_json(dataclasses.asdict(info))
    else:
        print_rows(daemon_info_rows(info))


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
def daemon_stop(app: App, timeout: float) -> None:
    """Stop the daemon cleanly (as SIGTERM does: waits end with a resumable status)."""
    client = app.client()
    pid = client.stop_daemon()
    deadline = time.monotonic() + timeout
    while _process_alive(pid):
        if time.monotonic() > deadline:
            raise AihubdError(f"aihubd (pid {pid}) is still running {timeout:g} s after being asked to stop")
        time.sleep(0.05)
    say(f"aihubd (pid {pid}) stopped")


@daemon.command("check", epilog=exit_codes_help())
@json_option
@click.pass_context
def daemon_check(ctx: click.Context, as_json: bool) -> None:
    """A full check of the daemon's own state: SQLite's integrity_check of its database, and every
    cached file hashed against its digest (damaged ones are dropped, to be fetched again).
    Exits 4 when the database has problems."""
    from aihubd_api.v1 import aihubd_pb2 as pb

    from .channel import Call

    app: App = ctx.obj
    call: Call[pb.CheckDaemonResponse] = Call("CheckDaemon", pb.CheckDaemonRequest(), service="daemon")
    report = app.client()._connection.unary(call)
    if as_json:
        echo_json(
            {
                "database_ok": report.database_ok,
                "database_problems": list(report.database_problems),
                "blobs_checked": report.blobs_checked,
                "blobs_dropped": report.blobs_dropped,
            }
        )
    else:
        problems = "; ".join(report.database_problems[:5])
        print_rows(
            [
                ("Database", Text("ok", style="green") if report.database_ok else Text(problems, style="red")),
                ("Cached files", Text(f"{report.blobs_checked} checked, {report.blobs_dropped} damaged and dropped")),
            ]
        )
    if not report.database_ok:
        ctx.exit(ExitCode.ERROR)


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
