"""The Node client's tests: compile clients/node (tsc) once per session; the node binary must be there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "clients" / "node"
INSTALL_HINT = "run `make node-install` (needs Node >= 20: `nvm install 20` or https://nodejs.org/en/download)"


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    assert path is not None, f"node is not on PATH; {INSTALL_HINT}"
    return path


@pytest.fixture(scope="session")
def node_build(node: str) -> Path:
    """clients/node/dist, freshly compiled from src/ and test/."""
    tsc = NODE_DIR / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), f"{tsc} missing; {INSTALL_HINT}"
    result = subprocess.run(
        [str(tsc), "-p", "tsconfig.json"], cwd=NODE_DIR, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return NODE_DIR / "dist"
