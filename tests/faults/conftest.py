"""Fixtures for the fault suite: short private temp dirs, and the helpers of the other suites."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _dir in (Path(__file__).resolve().parent, _TESTS / "integration", _TESTS / "unit" / "daemon"):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))  # faults_support, child_procs / e2e_support, fake_hub


@pytest.fixture
def base() -> Iterator[Path]:
    """A short 0700 directory under /tmp (socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="aihf-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
