"""6. The Node client (clients/node): cached GetJob calls/s from one AihubdClient at C concurrent
callers against the daemon, next to the same Node client calling the bench's trivial grpc.aio echo
(tools/bench/echo.py, answering GetJob with a prebuilt copy of the same Job) in the same run.

Each measurement is one `node dist/bench/getjob-load.js` process (compiled here with the package's
pinned tsc); both servers are measured alternately in several short rounds, each after a warm-up.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import procs
from .common import HUB_RATE, Ctx, median, percentile
from .scenario_reads import _tracked_job, rate_vs_echo_row

NAME = "node"
TITLE = "6 node"
TARGET_RATIO = 0.70
NODE_DIR = procs.REPO / "clients" / "node"
LOADGEN = NODE_DIR / "dist" / "bench" / "getjob-load.js"
INSTALL_HINT = "run `make node-install` (needs Node >= 20: `nvm install 20` or https://nodejs.org/en/download)"


def _build() -> str:
    node = shutil.which("node")
    tsc = NODE_DIR / "node_modules" / ".bin" / "tsc"
    if node is None or not tsc.exists():
        raise procs.BenchError(f"the Node client is not installed; {INSTALL_HINT}")
    subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=NODE_DIR, check=True, capture_output=True, timeout=300)
    return node


def _load(node: str, socket: Path, job_id: str, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    args = ["--socket", str(socket), "--job", job_id, "--concurrency", str(concurrency)]
    args += ["--duration", str(duration), "--warmup", str(warmup)]
    result = subprocess.run(
        [node, str(LOADGEN), *args], capture_output=True, text=True, timeout=duration + warmup + 120, check=False
    )
    if result.returncode != 0:
        raise procs.BenchError(f"node load generator failed ({result.returncode}): {result.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for part in parts for x in part["lat_us"]]
    calls = sum(part["calls"] for part in parts)
    seconds = sum(part["seconds"] for part in parts)
    return {
        "calls_per_s": calls / seconds,
        "calls": calls,
        "seconds": seconds,
        "errors": sum(part["errors"] for part in parts),
        "error_samples": [e for part in parts for e in part["error_samples"]][:3],
        "p50_s": median(lat) / 1e6 if lat else 0.0,
        "p99_s": percentile(lat, 99) / 1e6 if lat else 0.0,
        "rounds_calls_per_s": [round(part["calls"] / part["seconds"]) for part in parts],
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    node = _build()
    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd, emu, poll_interval=3600, extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    )
    job = asyncio.run(_tracked_job(emu, daemon))
    job_file = wd / "job.pb"
    job_file.write_bytes(job.SerializeToString())
    echo_socket = procs.socket_path(wd, "echo-node")
    echo = procs.start_module(
        "echo-node", "tools.bench.echo", ["--socket", str(echo_socket), "--job-file", str(job_file)], logdir=wd / "logs"
    )
    daemon_socket = Path(daemon.target.removeprefix("unix:"))
    results: dict[int, dict[str, Any]] = {}
    rounds = max(1, int(p.get("rounds", 1)))
    piece = p["duration"] / rounds
    try:
        for c in p["concurrency"]:
            parts: dict[str, list[dict[str, Any]]] = {"daemon": [], "echo": []}
            for _ in range(rounds):
                parts["daemon"].append(_load(node, daemon_socket, job.job_id, c, piece, p["warmup"]))
                parts["echo"].append(_load(node, echo_socket, job.job_id, c, piece, p["warmup"]))
            results[c] = {k: _merge(v) for k, v in parts.items()}
    finally:
        echo.stop()
        daemon.stop()
        emu.stop()

    for c, r in results.items():
        d, e = r["daemon"], r["echo"]
        note = f"per round daemon {d['rounds_calls_per_s']} vs echo {e['rounds_calls_per_s']} calls/s"
        if d["errors"] or e["errors"]:
            note += f"; errors daemon {d['errors']} echo {e['errors']}: {(d['error_samples'] + e['error_samples'])[:1]}"
        ctx.report.add(rate_vs_echo_row(TITLE, "Node client GetJob", c, d, e, TARGET_RATIO, note))
    ctx.report.note(
        "Node client: one AihubdClient (@grpc/grpc-js) per measurement process, C callers calling getJob back to "
        "back; the baseline is the same Node code against the grpc.aio echo's GetJob on its own Unix socket, "
        f"{p['duration']:g} s per server and concurrency in {rounds} alternating round(s), each after "
        f"{p['warmup']:g} s of warm-up."
    )
