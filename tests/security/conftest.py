"""Fixtures for the security tests: a short private temp dir and a standalone Hub emulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # sec_support, also imported by tests/property

from sec_support import Emulator, private_dir, start_emulator, stop_process  # noqa: E402


@pytest.fixture
def base() -> Iterator[Path]:
    """A short 0700 directory under /tmp (socket paths are limited to 107 bytes)."""
    with private_dir() as path:
        yield path


@pytest.fixture
def emulator(base: Path) -> Iterator[Emulator]:
    """`aihubd emulator --manual`: jobs move only when a test advances them."""
    emu = start_emulator(base)
    try:
        yield emu
    finally:
        stop_process(emu.proc)
