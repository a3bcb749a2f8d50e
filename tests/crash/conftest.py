"""The crash harness reuses the integration tests' process helpers; ``small_fs`` gives a real,
small filesystem (a tmpfs) that a test can fill up, to crash the daemon with its disk full."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from disk_support import mount_tmpfs, unmount


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """``small_fs(name, size)``: the directory ``tmp_path/name`` on a tmpfs of ``size`` bytes
    (unmounted at the end). Skips when this machine does not allow mounting one."""
    mounted: list[Path] = []

    def make(name: str, size: int) -> Path:
        where = tmp_path / name
        where.mkdir()
        why = mount_tmpfs(where, size)
        if why is not None:
            pytest.skip(f"no small filesystem to fill: {why}")
        mounted.append(where)
        return where

    try:
        yield make
    finally:
        for where in reversed(mounted):
            unmount(where)
