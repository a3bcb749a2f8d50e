"""Fixtures for integration tests: a standalone emulator and a real daemon, as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import TEST_TOKEN, Daemon, Emulator, clean_env, make_dlc, start_daemon, start_emulator, stop_process


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """`aihubd emulator --manual`: jobs move only when the test says so."""
    emu = start_emulator(tmp_path, "--manual")
    try:
        yield emu
    finally:
        stop_process(emu.proc)


@pytest.fixture
def daemon(tmp_path: Path, emulator: Emulator) -> Iterator[Daemon]:
    """A real daemon on a temp socket, talking to the standalone emulator with a token from env.

    The poll interval is an hour: state changes are seen only through RefreshJobs (deterministic).
    """
    d = start_daemon(tmp_path, ["--hub-url", emulator.base_url, "--hub-rate", "1000"],
                     env=clean_env(AIHUBD_HUB_TOKEN=TEST_TOKEN, QAIHUB_CLIENT_INI=str(tmp_path / "none.ini")))
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def dlcs(tmp_path: Path) -> tuple[Path, Path]:
    shared = bytes(range(256)) * 64
    return (make_dlc(tmp_path / "graph_a.dlc", b"A-graph" + shared + b"tail-a"),
            make_dlc(tmp_path / "graph_b.dlc", b"B-graph" + shared + b"tail-b"))
