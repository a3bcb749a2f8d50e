"""`make lint-proto`: buf lint passes on protos/ with only the recorded exceptions, and buf breaking
passes against the committed released contract image yet catches a breaking edit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "clients" / "node" / "node_modules" / ".bin" / "buf"
IMAGE = ROOT / "protos" / "released" / "aihubd-v1.binpb"
PROTO = Path("aihubd") / "v1" / "aihubd.proto"


@pytest.fixture(scope="module")
def buf() -> Path:
    assert BUF.exists(), f"{BUF} missing: run `make node-install` (Node >= 20)"
    return BUF


def _run(buf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(buf), *args], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)


def _copy(tmp_path: Path) -> Path:
    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos)
    return protos


def test_lint_is_clean(buf: Path) -> None:
    result = _run(buf, "lint", "protos")
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_is_compatible_with_the_released_image(buf: Path) -> None:
    result = _run(buf, "breaking", "protos", "--against", str(IMAGE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_still_checks_new_definitions(buf: Path, tmp_path: Path) -> None:
    protos = _copy(tmp_path)
    with (protos / PROTO).open("a") as f:
        f.write("\nenum watch_kind {\n  ADDED = 0;\n}\n")
    result = _run(buf, "lint", str(protos))
    assert result.returncode != 0
    assert "watch_kind" in result.stdout


def test_breaking_catches_a_renamed_field(buf: Path, tmp_path: Path) -> None:
    protos = _copy(tmp_path)
    source = (protos / PROTO).read_text()
    edited = source.replace(
        "message GetJobRequest {\n  string job_id = 1;", "message GetJobRequest {\n  string id = 1;"
    )
    assert edited != source
    (protos / PROTO).write_text(edited)
    result = _run(buf, "breaking", str(protos), "--against", str(IMAGE))
    assert result.returncode != 0
    assert "GetJobRequest" in result.stdout


def test_adding_an_rpc_is_not_breaking(buf: Path, tmp_path: Path) -> None:
    protos = _copy(tmp_path)
    source = (protos / PROTO).read_text()
    edited = source.replace(
        "service DaemonService {\n", "service DaemonService {\n  rpc Ping(GetDaemonInfoRequest) returns (DaemonInfo);\n"
    )
    assert edited != source
    (protos / PROTO).write_text(edited)
    result = _run(buf, "breaking", str(protos), "--against", str(IMAGE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_says_how_to_install_node_when_it_is_missing(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    result = subprocess.run(
        [make, "-s", "node-check"], capture_output=True, text=True, check=False, cwd=ROOT, env={"PATH": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "need Node.js >= 20" in result.stdout + result.stderr
