"""`node --test` over the TypeScript client's test files, each against a real daemon and emulator
that the Node harness starts (clients/node/test/harness.ts), with this interpreter for the Python
side of the cross-language tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aihubd.rpc.errors import STATUS_OF

NODE_DIR = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE_TEST_FILES = ["client", "clientid", "errors", "limits", "watch"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NODE_TEST_FILES)
def test_node_suite(node: str, node_build: Path, name: str, tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(node).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "AIHUBD_TEST_PYTHON": sys.executable,
    }
    result = subprocess.run(
        [node, "--test", "--test-concurrency=1", str(node_build / "test" / f"{name}.test.js")],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "# fail 0" in result.stdout


def test_reason_table_covers_every_daemon_reason(node: str, node_build: Path) -> None:
    script = "import('./dist/src/index.js').then((m) => console.log(JSON.stringify(Object.keys(m.REASON_ERRORS))))"
    result = subprocess.run([node, "-e", script], cwd=NODE_DIR, capture_output=True, text=True, check=True)
    node_reasons = set(json.loads(result.stdout))
    daemon_reasons = {reason for _kind, _code, reason, _retry in STATUS_OF} | {"INTERNAL"}
    # DAEMON_SHUTTING_DOWN is matched before the table: it becomes DaemonUnavailableError.
    assert node_reasons == daemon_reasons - {"DAEMON_SHUTTING_DOWN"}
