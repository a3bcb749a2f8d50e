"""10. Cached reads while the daemon uploads: another client's GetJob latency during a large model
upload (1 GiB in the full run) through the daemon, next to the same run's idle latency.

One emulator (pre-signed part URLs, manual) and one daemon that has adopted one in-flight job. One
loadgen process calls the cached GetJob back to back (one caller): first with the daemon idle,
then while a SubmitLinkJob of a fresh large model runs (hashing the file for the upload cache,
creating the model, uploading its parts, creating the job), in short windows measured only while
the upload is still running.

Target: the busy p99 stays < 20 ms (issue 11, item 7): the upload neither blocks the event loop
nor hashes on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from . import procs
from .common import HUB_RATE, Ctx
from .report import FAIL, PASS, Row, fmt_bytes, fmt_ms
from .scenario_reads import _load, _merge, _tracked_job
from .scenario_upload import _daemon_upload, _start_emulator, _write_random

NAME = "busy"
TITLE = "10 busy"
TARGET_P99 = 0.020


class _Upload(threading.Thread):
    """SubmitLinkJob of ``model`` through the daemon, on its own thread and event loop."""

    def __init__(self, daemon: procs.Daemon, model: Path) -> None:
        super().__init__(name="bench-busy-upload", daemon=True)
        self._daemon = daemon
        self._model = model
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = asyncio.run(_daemon_upload(self._daemon, self._model))
        except BaseException as exc:  # reported by the scenario, not lost in the thread
            self.error = exc


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    size: int = p["size"]
    wd = ctx.subdir(NAME)
    (wd / "logs").mkdir(exist_ok=True)
    model = wd / "bench_busy.dlc"
    _write_random(model, size)
    emu, _s3 = _start_emulator(wd, "multipart")
    loadgen: procs.Proc | None = None
    try:
        daemon = procs.start_daemon(
            wd,
            emu,
            poll_interval=3600,
            extra=ctx.daemon_flags(
                {"--hub-rate": HUB_RATE, "--max-poll-interval": "3600", "--cache-dir": str(wd / "cache")}
            ),
        )
        try:
            job = asyncio.run(_tracked_job(emu, daemon))
            loadgen = procs.start_module(
                "loadgen-busy", "tools.bench.loadgen", [], logdir=wd / "logs", interactive=True
            )
            idle = _merge([_load([loadgen], daemon.target, job.job_id, 1, p["idle"], p["warmup"])])
            upload = _Upload(daemon, model)
            t0 = time.monotonic()
            upload.start()
            pieces: list[dict[str, Any]] = []
            while upload.is_alive() or not pieces:
                piece = _load([loadgen], daemon.target, job.job_id, 1, p["piece"], 0.0)
                if upload.is_alive() or not pieces:  # only windows that ended while it still ran
                    pieces.append(piece)
            upload.join()
            upload_s = time.monotonic() - t0
            if upload.error is not None:
                raise procs.BenchError(f"the upload through the daemon failed: {upload.error}")
            busy = _merge(pieces)
        finally:
            daemon.stop()
    finally:
        if loadgen is not None:
            loadgen.stop()
        emu.stop()
        model.unlink(missing_ok=True)

    errors = idle["errors"] + busy["errors"]
    note = (
        f"one caller, back to back; busy: {busy['calls']} calls in {len(pieces)} window(s) of {p['piece']:g} s "
        f"while SubmitLinkJob ran ({upload_s:.1f} s: hashing, model creation, part uploads, the job); "
        f"idle: {idle['calls']} calls in {p['idle']:g} s"
    )
    if errors:
        note += f"; {errors} errors: {(idle['error_samples'] + busy['error_samples'])[:1]}"
    ctx.report.add(
        Row(
            TITLE,
            f"cached GetJob p99 during a {fmt_bytes(size)} upload",
            f"p99 {fmt_ms(busy['p99_s'])} · p50 {fmt_ms(busy['p50_s'])}",
            baseline=f"idle p99 {fmt_ms(idle['p99_s'])} · p50 {fmt_ms(idle['p50_s'])}",
            ratio=busy["p99_s"] / idle["p99_s"] if idle["p99_s"] else None,
            target=f"p99 < {TARGET_P99 * 1000:.0f} ms",
            status=PASS if busy["p99_s"] < TARGET_P99 and errors == 0 else FAIL,
            note=note,
            data={"size": size, "upload_seconds": upload_s, "idle": idle, "busy": busy},
        )
    )
