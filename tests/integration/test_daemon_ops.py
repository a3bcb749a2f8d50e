"""Operating the daemon: ``aihubd serve --detach`` (pid file, log, refusal while one runs),
``aihubctl daemon status`` (every field, the embedded emulator's URL and token usable by the
official client), ``aihubctl daemon stop``, ``aihubd install-service`` and the help texts."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub
from child_procs import run
from e2e_support import clean_env

from aihubd.__main__ import _parser
from aihubd_client.exit_codes import ExitCode

BIN = Path(sys.executable).parent
AIHUBD, AIHUBCTL = BIN / "aihubd", BIN / "aihubctl"


@pytest.fixture
def place(tmp_path: Path) -> Path:
    short = Path("/tmp") / f"aihubd-ops-{os.getpid()}-{tmp_path.name[-8:]}"
    short.mkdir(mode=0o700)
    yield short
    shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def detached(place: Path) -> Iterator[tuple[subprocess.CompletedProcess[str], Path, Path]]:
    """``aihubd serve --hub emulator --detach`` in ``place``; killed (by its pid) if a test left it running."""
    socket, state = place / "run" / "aihubd.sock", place / "state"
    started = aihubd(
        "--log-level",
        "INFO",
        "serve",
        "--hub",
        "emulator",
        "--detach",
        "--socket",
        str(socket),
        "--state-dir",
        str(state),
        socket=socket,
    )
    yield started, socket, state
    pid_file = state / "aihubd.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def aihubd(*args: str, socket: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    extra = {"AIHUBD_SOCKET": str(socket)} if socket else {}
    return run(
        [str(AIHUBD), *args], capture_output=True, text=True, timeout=60, env=clean_env(**extra, **env), check=False
    )


def ctl(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(AIHUBD_SOCKET=str(socket), NO_COLOR="1")
    return run([str(AIHUBCTL), *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def test_detach_status_and_stop(detached):
    started, socket, state = detached
    assert started.returncode == 0, started.stderr
    pid = int((state / "aihubd.pid").read_text())
    assert f"pid {pid}" in started.stdout and str(state / "aihubd.log") in started.stdout
    assert "aihubd ready on unix:" in (state / "aihubd.log").read_text()

    again = aihubd("serve", "--hub", "emulator", "--detach", "--socket", str(socket), "--state-dir", str(state))
    assert again.returncode == 2
    assert f"aihubd already runs (pid {pid}" in again.stderr

    status = ctl(socket, "daemon", "status", "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert (info["pid"], info["socket_path"], info["state_dir"]) == (pid, str(socket), str(state))
    assert info["uptime_seconds"] > 0 and info["version"] and info["hub_reachable"] is True
    assert info["token_source"] == "embedded emulator" and info["in_flight_jobs"] == 0
    official = hub.Client(
        config=hub.ClientConfig(api_token=info["emulator_token"], api_url=info["hub_url"], web_url=info["web_url"])
    )
    assert official.get_devices(name="Snapdragon 8 Elite QRD")  # the official client works against it
    human = ctl(socket, "daemon", "status").stdout
    for label in (
        "pid",
        "socket",
        "version",
        "uptime",
        "hub",
        "reachable",
        "token from",
        "emulator token",
        "in flight",
        "cache",
    ):
        assert re.search(rf"^{label}\s+\S", human, re.MULTILINE), label

    stopped = ctl(socket, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"aihubd (pid {pid}) stopped" in stopped.stderr
    assert not (state / "aihubd.pid").exists()
    assert "aihubd INFO aihubd: stopped" in (state / "aihubd.log").read_text()
    gone = ctl(socket, "daemon", "stop")
    assert gone.returncode == ExitCode.DAEMON_UNREACHABLE
    assert "aihubd serve --detach" in gone.stderr


def test_a_detached_start_that_fails_shows_the_log(place):
    (place / "notadir").write_text("x")
    failed = aihubd(
        "serve",
        "--hub",
        "emulator",
        "--detach",
        "--socket",
        str(place / "notadir" / "s.sock"),
        "--state-dir",
        str(place / "state"),
    )
    assert failed.returncode != 0
    assert "the daemon did not start" in failed.stderr and "aihubd.log" in failed.stderr
    assert not (place / "state" / "aihubd.pid").exists()


def test_install_service_prints_and_writes_a_systemd_unit(tmp_path):
    printed = aihubd("install-service", "--print", "--platform", "systemd", "--", "--hub", "emulator")
    assert printed.returncode == 0, printed.stderr
    assert f"ExecStart={AIHUBD} serve --hub emulator" in printed.stdout
    assert "WantedBy=default.target" in printed.stdout and "Socket" not in printed.stdout
    config = tmp_path / "config"
    written = aihubd("install-service", "--platform", "systemd", XDG_CONFIG_HOME=str(config))
    assert written.returncode == 0, written.stderr
    unit = config / "systemd" / "user" / "aihubd.service"
    assert unit.read_text().startswith("[Unit]") and "systemctl --user enable --now aihubd" in written.stdout
    refused = aihubd("install-service", "--platform", "systemd", XDG_CONFIG_HOME=str(config))
    assert refused.returncode == 2 and "already exists; --force replaces it" in refused.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    printed = aihubd("install-service", "--print", "--platform", "systemd")
    unit = tmp_path / "aihubd.service"
    unit.write_text(printed.stdout)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert "aihubd.service" not in verified.stderr  # no complaint about our unit


def test_install_service_launchd_plist_parses(tmp_path):
    printed = aihubd("install-service", "--print", "--platform", "launchd", "--", "--hub", "emulator")
    assert printed.returncode == 0, printed.stderr
    document = plistlib.loads(printed.stdout.encode())
    assert document["ProgramArguments"] == [str(AIHUBD), "serve", "--hub", "emulator"]
    assert document["RunAtLoad"] is True and document["Label"]


def _actions(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for where, inner in _actions(sub):
                    yield f"{name} {where}", inner
        else:
            yield parser.prog, action


def test_every_option_of_every_command_has_help():
    for where, action in _actions(_parser()):
        if action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{where}: {action.option_strings or action.dest} has no help"
    for command in ([], ["serve"], ["emulator"], ["install-service"]):
        helped = aihubd(*command, "--help")
        assert helped.returncode == 0
        assert "``" not in helped.stdout and "Argument parsing only" not in helped.stdout
