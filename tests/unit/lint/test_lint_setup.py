"""`make lint` is set up as issue #9 asks, and its layering contracts really catch a violation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
REQUIRED_FAMILIES = {"E", "F", "W", "B", "I", "UP", "SIM", "ASYNC", "S", "RUF"}


def _config() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def test_ruff_selects_the_required_rule_families() -> None:
    selected = set(_config()["tool"]["ruff"]["lint"]["select"])
    assert selected >= REQUIRED_FAMILIES, REQUIRED_FAMILIES - selected


def test_every_ignored_ruff_rule_gives_its_reason() -> None:
    text = PYPROJECT.read_text()
    block = re.search(r"^ignore = \[\n(.*?)^\]", text, re.DOTALL | re.MULTILINE)
    assert block, "no [tool.ruff.lint] ignore list found"
    entries = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert entries
    for entry in entries:
        assert re.fullmatch(r'"[A-Z]+[0-9]*",\s+# \S.{10,}', entry), f"ignored rule without a reason: {entry}"


def test_lint_tools_are_pinned_in_the_dev_extra() -> None:
    dev = _config()["project"]["optional-dependencies"]["dev"]
    for tool in ("ruff", "mypy", "import-linter"):
        spec = next((d for d in dev if re.match(rf"{tool}\b", d)), None)
        assert spec is not None, f"{tool} missing from the dev extra"
        assert "==" in spec or "<" in spec, f"{tool} is not pinned: {spec}"


def test_make_test_runs_make_lint_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_rule = re.search(r"^test:(.*)$", makefile, re.MULTILINE)
    assert test_rule and "lint" in test_rule.group(1).split()


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports over a copy of the packages (first on sys.path, before the installed ones)."""
    env = {**os.environ, "PYTHONPATH": f"{tree / 'daemon'}{os.pathsep}{tree / 'clients' / 'python'}"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config", str(tree / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "daemon", tmp_path / "daemon", ignore=ignore)
    shutil.copytree(ROOT / "clients" / "python", tmp_path / "clients" / "python", ignore=ignore)
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layering_holds_today(tree_copy: Path) -> None:
    result = _lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("daemon/aihubd/store/blobs.py", "import grpc", "Only aihubd.rpc and app.py speak gRPC"),
        ("daemon/aihubd/services/jobs.py", "import aiohttp", "Only aihubd.hub and the emulator speak HTTP"),
        ("daemon/aihubd/services/jobs.py", "from aihubd.rpc import convert", "Layers"),
        ("daemon/aihubd/store/jobs.py", "from aihubd.tracking import poller", "The store imports nothing above it"),
        ("clients/python/aihubd_client/values.py", "from aihubd import model", "The client library never imports"),
        ("daemon/aihubd/emulator/state.py", "from aihubd import errors", "The emulator is a separate server"),
    ],
)
def test_a_layering_violation_breaks_its_contract(tree_copy: Path, module: str, line: str, contract: str) -> None:
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{line}  # probe\n")
    result = _lint_imports(tree_copy)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout
