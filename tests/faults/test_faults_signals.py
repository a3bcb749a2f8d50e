"""SIGHUP does what a daemon user expects (issue 11, item 16): the daemon re-reads its Hub
credentials and keeps serving; it does not die leaving its socket and lock behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import grpc
from e2e_support import clean_env, start_emulator, stopping
from faults_support import WAIT, start_served

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc


def _account(socket: Path) -> str:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        return api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=WAIT).account_email


def _write_token(path: Path, token: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


def test_sighup_rereads_the_credentials_and_keeps_serving(base: Path) -> None:
    tokens = base / "tokens"
    tokens.write_text("token-alice:alice@example.com\ntoken-bob:bob@example.com\n")
    token_file = base / "token"
    _write_token(token_file, "token-alice")
    with stopping(start_emulator(base, "--manual", "--tokens-file", str(tokens))) as emulator:
        daemon = start_served(
            base / "run" / "aihubd.sock",
            base / "state",
            env=clean_env(QAIHUB_CLIENT_INI=str(base / "none.ini")),
            hub=("--hub-url", emulator.base_url, "--token-file", str(token_file)),
        )
        try:
            _account(daemon.socket)  # starts the account look-up in the background
            daemon.wait_for_log("Hub account: alice@example.com")
            assert _account(daemon.socket) == "alice@example.com"

            _write_token(token_file, "token-bob")  # the user rotated the token
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_for_log("SIGHUP: Hub credentials re-read")
            daemon.wait_for_log("Hub account: bob@example.com")
            assert daemon.proc.poll() is None
            assert _account(daemon.socket) == "bob@example.com"
        finally:
            assert daemon.stop() == 0
        assert not daemon.socket.exists()
        assert all("token-bob" not in line and "token-alice" not in line for line in daemon.stderr_lines)


def test_sighup_with_the_embedded_emulator_is_harmless(base: Path) -> None:
    daemon = start_served(base / "run" / "aihubd.sock", base / "state")
    try:
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_log("SIGHUP")
        _account(daemon.socket)  # still serving
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0
    assert not daemon.socket.exists()
