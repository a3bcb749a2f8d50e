"""4. Artifact delivery of a large target model (256 MiB in the full run).

The daemon submits one random (incompressible, so the emulated link's chunk dedup cannot shrink
it) local .dlc sized so the linked output is about the wanted size; the emulator's link writes the
target model. Then, on the same disk (the bench's scratch dir):

* first download: the job is advanced to DONE on the emulator and a DownloadTargetModel to a path
  is already waiting; timed from the RefreshJobs that lets the daemon see DONE to the path being
  there (Hub → daemon → path; a background prefetch, if the daemon has one, is part of this);
* cached delivery to a path: DownloadTargetModel again, to new paths (median of repeats);
* as a stream: ReadTargetModel read to the end by the loadgen process (median of repeats, run by run
  alternating with the trivial stream below, each on a fresh, warmed-up channel);
* baselines: ``cp`` of the delivered file to a new file on the same disk, and the echo's trivial
  grpc.aio stream of the same number of bytes in 1 MiB chunks (same client code).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import DEVICE, HUB_RATE, Ctx, aio_stub, median
from .report import FAIL, INFO, PASS, Row, fmt_bytes, fmt_ms, fmt_rate

NAME = "delivery"
TITLE = "4 delivery"
TARGET_STREAM = 0.70
TARGET_PATH = 0.80
LINK_CHUNK = 4096  # the emulator's default link chunk
HEADER_PER_CHUNK = 106  # bytes of the emulated container's JSON header per chunk (measured)


def _input_size(target_output: int) -> int:
    """Input bytes whose linked output (payload + per-chunk header) is about ``target_output``."""
    return max(LINK_CHUNK, int(target_output * LINK_CHUNK / (LINK_CHUNK + HEADER_PER_CHUNK)))


def _write_random(path: Path, size: int) -> None:
    block = 4 << 20
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(block, left)
            out.write(os.urandom(n))
            left -= n


def _cp(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True, timeout=300)
    return time.perf_counter() - t0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


async def _submit(daemon: procs.Daemon, model: Path) -> api.Job:
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        return await stub.SubmitLinkJob(
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(model))], device=DEVICE, name="bench-delivery"),
            timeout=600,
        )


async def _refresh(daemon: procs.Daemon) -> None:
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        await stub.RefreshJobs(api.RefreshJobsRequest(), timeout=120)


async def _first_download(daemon: procs.Daemon, emu: procs.Emulator, job_id: str, dest: Path) -> dict[str, Any]:
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        pending = asyncio.ensure_future(
            stub.DownloadTargetModel(api.DownloadTargetModelRequest(job_id=job_id, destination=str(dest)), timeout=600)
        )
        await asyncio.sleep(0.3)  # the download waits for the job to end
        await asyncio.to_thread(emu.advance, job_id)  # LINKING_MODELS -> DONE on the Hub
        t0 = time.perf_counter()
        await stub.RefreshJobs(api.RefreshJobsRequest(), timeout=120)
        reply = await pending
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "paths": list(reply.paths), "state": int(reply.state)}


async def _download(daemon: procs.Daemon, job_id: str, dest: Path) -> tuple[float, list[str]]:
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        t0 = time.perf_counter()
        reply = await stub.DownloadTargetModel(
            api.DownloadTargetModelRequest(job_id=job_id, destination=str(dest)), timeout=600
        )
        return time.perf_counter() - t0, list(reply.paths)


def _stream(loadgen: procs.Proc, target: str, job_id: str, repeat: int) -> dict[str, Any]:
    loadgen.send({"op": "stream", "target": target, "job_id": job_id, "repeat": repeat, "timeout": 600})
    out = loadgen.receive(timeout=600 * repeat + 60)
    if out.get("event") == "error" or out.get("errors"):
        raise procs.BenchError(f"stream from {target}: {out.get('error') or out.get('errors')}")
    return out


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    size: int = p["size"]
    repeat: int = p["repeat"]
    wd = ctx.subdir(NAME)
    files = wd / "files"
    files.mkdir()
    model = files / "bench_model.dlc"
    _write_random(model, _input_size(size))

    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd,
        emu,
        poll_interval=3600,
        extra=ctx.daemon_flags(
            {"--hub-rate": HUB_RATE, "--max-poll-interval": "3600", "--cache-dir": str(wd / "daemon-cache")}
        ),
    )
    loadgen = procs.start_module("loadgen-delivery", "tools.bench.loadgen", [], logdir=wd / "logs", interactive=True)
    echo: procs.Proc | None = None
    data: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        job = asyncio.run(_submit(daemon, model))
        data["submit_seconds"] = time.perf_counter() - t0  # upload + the emulated link
        model.unlink()  # the Hub has it; free the disk
        emu.advance(job.job_id)  # CREATED -> LINKING_MODELS
        asyncio.run(_refresh(daemon))

        first = asyncio.run(_first_download(daemon, emu, job.job_id, files / "first"))
        if not first["paths"]:
            raise procs.BenchError(f"DownloadTargetModel wrote nothing (job state {first['state']})")
        delivered = Path(first["paths"][0])
        out_size = delivered.stat().st_size
        data["first"] = first

        cached = []
        for i in range(repeat):
            seconds, paths = asyncio.run(_download(daemon, job.job_id, files / f"cached-{i}"))
            if not paths or Path(paths[0]).stat().st_size != out_size:
                raise procs.BenchError(f"cached delivery {i} wrote {paths}")
            cached.append(seconds)
        last = Path(paths[0])
        data["cached_nlink"] = last.stat().st_nlink
        data["cached_same_bytes"] = _sha256(last) == _sha256(delivered)

        cps = []
        for i in range(repeat):
            cps.append(_cp(delivered, files / f"cp-{i}.bin"))
            (files / f"cp-{i}.bin").unlink()

        echo_socket = procs.socket_path(wd, "echo-delivery")
        echo = procs.start_module(
            "echo-delivery",
            "tools.bench.echo",
            ["--socket", str(echo_socket), "--stream-bytes", str(out_size)],
            logdir=wd / "logs",
        )
        # Alternate the two servers run by run, so a noisy stretch of the machine hits both alike.
        streamed: dict[str, list[dict[str, Any]]] = {"runs": []}
        trivial: dict[str, list[dict[str, Any]]] = {"runs": []}
        for _ in range(repeat):
            streamed["runs"] += _stream(loadgen, daemon.target, job.job_id, 1)["runs"]
            trivial["runs"] += _stream(loadgen, f"unix:{echo_socket}", "echo", 1)["runs"]
        if any(r["bytes"] != out_size for r in streamed["runs"]):
            raise procs.BenchError(
                f"ReadTargetModel gave {[r['bytes'] for r in streamed['runs']]} bytes, the file has {out_size}"
            )
    finally:
        loadgen.stop()
        if echo is not None:
            echo.stop()
        daemon.stop()
        emu.stop()
        _remove_big_files(wd)

    mb = out_size / 1e6
    first_rate = mb / data["first"]["seconds"]
    cp_s = median(cps)
    cp_rate = mb / cp_s
    cached_s = median(cached)
    cached_rate = mb / cached_s
    stream_s = median([r["seconds"] for r in streamed["runs"]])
    stream_rate = mb / stream_s
    trivial_s = median([r["seconds"] for r in trivial["runs"]])
    trivial_rate = mb / trivial_s
    report = ctx.report
    what = f"{fmt_bytes(out_size)} target model"
    report.add(
        Row(
            TITLE,
            f"first download Hub → daemon → path ({what})",
            f"{fmt_rate(first_rate, ' MB/s')} ({fmt_ms(data['first']['seconds'])})",
            baseline=f"cp {fmt_rate(cp_rate, ' MB/s')}",
            ratio=first_rate / cp_rate,
            target="—",
            status=INFO,
            note=f"submit (upload + emulated link) took {data['submit_seconds']:.1f} s",
            data={"bytes": out_size, "seconds": data["first"]["seconds"], "mb_per_s": first_rate, "cp_seconds": cps},
        )
    )
    ok = cached_rate >= TARGET_PATH * cp_rate and data["cached_same_bytes"]
    report.add(
        Row(
            TITLE,
            "cached delivery to a path",
            f"{fmt_rate(cached_rate, ' MB/s')} ({fmt_ms(cached_s)})",
            baseline=f"cp {fmt_rate(cp_rate, ' MB/s')} ({fmt_ms(cp_s)})",
            ratio=cached_rate / cp_rate,
            target=f"≥ {TARGET_PATH:.2f} of cp",
            status=PASS if ok else FAIL,
            note=f"median of {repeat}; delivered file has {data['cached_nlink']} link(s)"
            + ("" if data["cached_same_bytes"] else "; CONTENT DIFFERS from the first download"),
            data={"seconds": cached, "mb_per_s": cached_rate, "cp_seconds": cps, "nlink": data["cached_nlink"]},
        )
    )
    ok = stream_rate >= TARGET_STREAM * trivial_rate
    report.add(
        Row(
            TITLE,
            "cached delivery as a stream (ReadTargetModel)",
            f"{fmt_rate(stream_rate, ' MB/s')} ({fmt_ms(stream_s)})",
            baseline=f"1 MiB-chunk stream {fmt_rate(trivial_rate, ' MB/s')}",
            ratio=stream_rate / trivial_rate,
            target=f"≥ {TARGET_STREAM:.2f} of the trivial stream",
            status=PASS if ok else FAIL,
            note=f"median of {repeat}, alternating with the trivial stream; cp of the same file: "
            f"{fmt_rate(cp_rate, ' MB/s')}",
            data={
                "runs": streamed["runs"],
                "trivial_runs": trivial["runs"],
                "mb_per_s": stream_rate,
                "trivial_mb_per_s": trivial_rate,
            },
        )
    )
    report.note(
        f"Delivery: MB = 10^6 bytes; the model is random bytes (the emulated link dedups {LINK_CHUNK}-byte "
        "chunks), cp and every delivery write to the same scratch dir the daemon's cache is in, page cache "
        "warm; the trivial stream is the echo server's grpc.aio stream of the same size read by the same "
        "client code."
    )


def _remove_big_files(wd: Path) -> None:
    """Free the disk as soon as the scenario ends (the scratch dir goes at the end of the run)."""

    def rm(path: Path) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)

    threads = [
        threading.Thread(target=rm, args=(wd / sub,))
        for sub in ("files", "daemon-cache", "daemon-state", "emulator-tmp")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
