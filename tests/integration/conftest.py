"""Fixtures for integration tests: a standalone emulator and a real daemon, as subprocesses.

``emulator``/``daemon`` are per test; ``hub_emulator``/``served`` are the same pair shared by a
whole module (every test there makes its own jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Daemon, Emulator, make_dlc, start_emulator, start_hub_daemon, stopping


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """`aihubd emulator --manual`: jobs move only when the test says so."""
    with stopping(start_emulator(tmp_path, "--manual")) as emu:
        yield emu


@pytest.fixture
def daemon(tmp_path: Path, emulator: Emulator) -> Iterator[Daemon]:
    """A real daemon on a temp socket, talking to the standalone emulator with a token from env.

    The poll interval is an hour: state changes are seen only through RefreshJobs (deterministic).
    """
    with stopping(start_hub_daemon(tmp_path, emulator)) as d:
        yield d


@pytest.fixture
def dlcs(tmp_path: Path) -> tuple[Path, Path]:
    shared = bytes(range(256)) * 64
    return (
        make_dlc(tmp_path / "graph_a.dlc", b"A-graph" + shared + b"tail-a"),
        make_dlc(tmp_path / "graph_b.dlc", b"B-graph" + shared + b"tail-b"),
    )


@pytest.fixture(scope="module")
def hub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The module's `aihubd emulator --manual`."""
    with stopping(start_emulator(tmp_path_factory.mktemp("emu"), "--manual")) as emu:
        yield emu


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, hub_emulator: Emulator) -> Iterator[Daemon]:
    """The module's daemon, on ``hub_emulator`` (poll interval 1 h, no Hub rate limit)."""
    with stopping(start_hub_daemon(tmp_path_factory.mktemp("daemon"), hub_emulator)) as d:
        yield d


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An empty .dlc makes the emulated link fail."""
    base = tmp_path_factory.mktemp("broken")
    return make_dlc(base / "empty.dlc", b""), make_dlc(base / "fine.dlc", b"fine")
