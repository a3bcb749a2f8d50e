"""``aihubctl devices``: the Hub's devices, from the daemon's cached list."""

from __future__ import annotations

import dataclasses

import click

from .cli_app import (
    App,
    echo_json,
    json_option,
    say,
    stdout_console,
)
from .cli_complete import complete_device_names
from .exit_codes import exit_codes_help
from .render import devices_table

__all__ = ["devices"]


@click.command(epilog=exit_codes_help())
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
@json_option
@click.pass_obj
def devices(app: App, name: str, os_version: str, attributes: tuple[str, ...], as_json: bool) -> None:
    """List the Hub's devices (name, OS, attributes); the daemon caches the list for an hour.

    A name no device has is answered with the closest real names.
    """
    try:
        found = app.client().get_devices(name=name, os=os_version, attributes=list(attributes))
    except ValueError as exc:  # qai_hub's own check: --os alone
        raise click.UsageError(str(exc)) from None
    if as_json:
        echo_json([dataclasses.asdict(device) for device in found])
    elif found:
        stdout_console().print(devices_table(found))
    else:
        say("no devices match")
