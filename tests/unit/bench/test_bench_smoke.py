"""`make bench` cannot rot: every scenario runs end to end at toy size (``--smoke``).

Each test runs ``python -m tools.bench --smoke --only NAME`` from the repository root exactly as
`make bench` would (subprocesses, sockets, the real daemon and emulator), then checks that the
scenario produced rows without an ERROR, wrote its JSON, and left no process behind. The toy
sizes make the verdicts meaningless, so PASS/FAIL is not asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.bench.__main__ import SCENARIOS  # noqa: E402  (every scenario `make bench` runs)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The bench's scratch dir goes here: Unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ab-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.mark.timeout(150)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bench_scenario_runs_at_toy_size(scenario: str, short_dir: Path) -> None:
    out = short_dir / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIHUBD_", "QAIHUB_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.bench",
            "--smoke",
            "--only",
            scenario,
            "--json",
            str(out),
            "--workdir",
            str(short_dir),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    results = json.loads(out.read_text())
    assert results["profile"] == "smoke"
    assert results["errors"] == []
    rows = results["rows"]
    assert rows, proc.stdout
    assert all(row["status"] in {"PASS", "FAIL", "INFO"} for row in rows), rows
    assert all(row["scenario"].split()[-1] == scenario for row in rows)
    # Nothing the bench started survives it (children die with it, by pid, never by name).
    deadline = time.monotonic() + 5
    while (left := _processes_mentioning(str(short_dir))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left
    # The scratch dir is removed unless --keep.
    assert [p.name for p in short_dir.iterdir()] == ["results.json"]
