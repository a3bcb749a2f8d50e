"""6. Model upload: a large local model (1 GiB in the full run) through the daemon vs the official
client's ``upload_model``, against the emulator, same run, in each transfer mode the emulator has.

For each mode (``multipart``: pre-signed part URLs; ``credentials``: S3 credentials on the
emulator's moto endpoint) one emulator is started, then:

* daemon: SubmitLinkJob of the model (what a client does to upload through the daemon): the
  daemon hashes the file (its content-addressed upload cache), creates the model, uploads it and
  creates the job. Its RSS is read when idle, its peak RSS (VmHWM, reset just before) after.
* official: ``qai_hub.Client.upload_model`` in its own process (``official_upload``), timed around
  that one call, with its idle and peak RSS read the same way.

Target: the daemon's peak RSS stays < 100 MB above its idle RSS (parts are streamed from disk).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import DEVICE, HUB_RATE, Ctx, aio_stub, median
from .report import FAIL, INFO, PASS, Row, fmt_bytes

NAME = "upload"
TITLE = "6 upload"
TARGET_RSS_ABOVE_IDLE = 100e6
MODES = ("multipart", "credentials")


def _write_random(path: Path, size: int) -> None:
    block = 4 << 20
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(block, left)
            out.write(os.urandom(n))
            left -= n


def _emulator_modes() -> tuple[str, ...]:
    """The transfer modes ``aihubd emulator`` offers (none when it has no --transfer)."""
    out = subprocess.run(
        [sys.executable, "-m", "aihubd", "emulator", "--help"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=procs.child_env(),
        cwd=str(procs.REPO),
    ).stdout
    return tuple(m for m in MODES if "--transfer" in out and m in out)


def _start_emulator(wd: Path, mode: str | None) -> tuple[procs.Emulator, str]:
    """An emulator in ``mode``; its S3 endpoint (second stdout line ``s3: URL``) when it has one."""
    tmp = wd / f"emulator-{mode}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    args = ["--log-level", "WARNING", "emulator", "--host", "127.0.0.1", "--port", "0", "--manual"]
    if mode is not None:
        args += ["--transfer", mode]
    proc = procs.start_module(
        f"emulator-{mode}", "aihubd", args, logdir=wd / "logs", env=procs.child_env(TMPDIR=str(tmp)), interactive=True
    )
    url = proc.first_line
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise procs.BenchError(f"the emulator printed {url!r} instead of its URL:\n{proc.log_tail()}")
    s3 = ""
    if mode == "credentials":
        line = procs._read_line(proc.popen, proc._buf, procs.DEFAULT_START_TIMEOUT) or ""
        if not line.startswith("s3: "):
            proc.kill()
            raise procs.BenchError(f"the emulator printed {line!r} instead of its S3 endpoint:\n{proc.log_tail()}")
        s3 = line.removeprefix("s3: ").strip()
    return procs.Emulator(base_url=url, proc=proc), s3


@contextmanager
def _s3_endpoint(url: str) -> Iterator[None]:
    """Children started meanwhile reach S3 at ``url`` (botocore's AWS_ENDPOINT_URL_S3)."""
    old = os.environ.get("AWS_ENDPOINT_URL_S3")
    if url:
        os.environ["AWS_ENDPOINT_URL_S3"] = url
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("AWS_ENDPOINT_URL_S3", None)
        else:
            os.environ["AWS_ENDPOINT_URL_S3"] = old


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS


async def _daemon_upload(daemon: procs.Daemon, model: Path) -> dict[str, Any]:
    channel, stub, daemon_stub = aio_stub(daemon.target)
    async with channel:
        await daemon_stub.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=60)  # warm
        idle = daemon.rss_bytes()
        _reset_peak(daemon.pid)
        t0 = time.perf_counter()
        job = await stub.SubmitLinkJob(
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(model))], device=DEVICE, name="bench-upload"),
            timeout=1800,
        )
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "idle_rss": idle, "peak_rss": daemon.peak_rss_bytes(), "job": job.job_id}


def _official_upload(emu: procs.Emulator, model: Path, wd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tools.bench.official_upload", emu.base_url, emu.token, str(model)],
        capture_output=True,
        check=False,
        text=True,
        timeout=1800,
        env=procs.child_env(),
        cwd=str(procs.REPO),
    )
    (wd / "logs" / "official_upload.log").write_text(out.stderr)
    if out.returncode != 0:
        raise procs.BenchError(f"the official upload failed ({out.returncode}):\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _logged_upload_seconds(log: str, name: str, index: int) -> float | None:
    """The daemon's own timing of its ``index``-th upload step (create model, transfer, confirm)."""
    found = re.findall(rf"uploaded {re.escape(name)} \(\d+ bytes\) as model \S+ by .* in ([0-9.]+) s", log)
    return float(found[index]) if len(found) > index else None


def _new_content(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(os.urandom(32))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds (and upload_seconds), the highest peak RSS above idle; every run kept."""
    out: dict[str, Any] = {"runs": runs, "seconds": median([r["seconds"] for r in runs])}
    uploads = [r["upload_seconds"] for r in runs if r.get("upload_seconds") is not None]
    out["upload_seconds"] = median(uploads) if uploads else None
    worst = max(runs, key=lambda r: r["peak_rss"] - r["idle_rss"])
    out["idle_rss"], out["peak_rss"] = worst["idle_rss"], worst["peak_rss"]
    return out


def run(ctx: Ctx) -> None:
    size: int = ctx.params(NAME)["size"]
    wd = ctx.subdir(NAME)
    (wd / "logs").mkdir(exist_ok=True)
    model = wd / "bench_upload.dlc"
    _write_random(model, size)
    modes: tuple[str | None, ...] = _emulator_modes() or (None,)
    if modes == (None,):
        ctx.report.note("upload: this emulator has no --transfer; measured in its default transfer mode only")
    repeat: int = ctx.params(NAME)["repeat"]
    results: dict[str, dict[str, Any]] = {}
    try:
        for mode in modes:
            emu, s3 = _start_emulator(wd, mode)
            daemon_runs: list[dict[str, Any]] = []
            official_runs: list[dict[str, Any]] = []
            try:
                with _s3_endpoint(s3):
                    daemon = procs.start_daemon(
                        wd,
                        emu,
                        name=f"daemon-{mode}",
                        log_level="INFO",  # its "uploaded ... in N s" line times the upload alone
                        extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--cache-dir": str(wd / f"cache-{mode}")}),
                    )
                    try:
                        # A-B, B-A, ...: the emulator's store slows as it fills; each side gets both slots.
                        for i in range(repeat):
                            for side in ("daemon", "official") if i % 2 == 0 else ("official", "daemon"):
                                if side == "official":
                                    official_runs.append(_official_upload(emu, model, wd))
                                    continue
                                _new_content(model)  # the daemon uploads a content once: make it new
                                run = asyncio.run(_daemon_upload(daemon, model))
                                run["upload_seconds"] = _logged_upload_seconds(
                                    daemon.proc.log_tail(4000), model.name, len(daemon_runs)
                                )
                                daemon_runs.append(run)
                    finally:
                        daemon.stop()
            finally:
                emu.stop()
            results[str(mode)] = {"daemon": _median_run(daemon_runs), "official": _median_run(official_runs)}
    finally:
        model.unlink(missing_ok=True)

    for mode, r in results.items():
        d, o = r["daemon"], r["official"]
        label = {"multipart": "pre-signed part URLs", "credentials": "S3 credentials"}.get(mode, "default mode")
        d_above = d["peak_rss"] - d["idle_rss"]
        o_above = o["peak_rss"] - o["idle_rss"]
        upload_s = d.get("upload_seconds")
        ctx.report.add(
            Row(
                TITLE,
                f"{fmt_bytes(size)} model upload, {label}: wall time",
                f"daemon {upload_s:.2f} s" if upload_s is not None else f"daemon (SubmitLinkJob) {d['seconds']:.1f} s",
                baseline=f"official {o['seconds']:.2f} s",
                ratio=(upload_s if upload_s is not None else d["seconds"]) / o["seconds"],
                target="—",
                status=INFO,
                note=f"median of {len(d['runs'])}, alternating; daemon: the upload step as it logs it (create, "
                "transfer, confirm); the whole SubmitLinkJob (hashing the file for its upload cache, the upload, "
                f"the job) took {d['seconds']:.1f} s. "
                "official: upload_model (create, transfer, confirm)",
                data=r,
            )
        )
        ctx.report.add(
            Row(
                TITLE,
                f"{fmt_bytes(size)} model upload, {label}: peak RSS above idle",
                f"daemon +{d_above / 1e6:,.0f} MB (peak {d['peak_rss'] / 1e6:,.0f} MB)",
                baseline=f"official +{o_above / 1e6:,.0f} MB (peak {o['peak_rss'] / 1e6:,.0f} MB)",
                ratio=(d_above / o_above) if o_above > 0 else None,
                target=f"daemon < +{TARGET_RSS_ABOVE_IDLE / 1e6:.0f} MB",
                status=PASS if d_above < TARGET_RSS_ABOVE_IDLE else FAIL,
                data={"daemon": d, "official": o},
            )
        )
