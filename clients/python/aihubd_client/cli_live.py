"""The moving parts of ``aihubctl``: the live wait line, the watch board, the download bar.

Each is animated only on a terminal (``rich.live.Live`` / ``rich.progress.Progress``); without
one, it prints one plain line per change instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .aio_client import AsyncClient
from .aio_job import AsyncLinkJob
from .job import LinkJob
from .naming import target_model_path, written_atomically
from .render import StatusLine, WatchBoard, change_to_dict, progress_line, watch_line
from .status import JobStatus

__all__ = ["LARGE_FILE", "follow", "is_terminal", "stream_target_model", "watch_jobs"]

# Target models at least this big get a progress bar on a terminal.
LARGE_FILE = 1024 * 1024


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal (FORCE_COLOR does not make one)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def follow(job: LinkJob, started: float, err: Console, live: bool, timeout: float | None = None) -> JobStatus:
    """Wait for ``job``, showing its status on ``err``; returns the final status.

    ``live``: one status line that updates in place, with the elapsed time ticking. Otherwise
    one line per state change, each with the time since ``started``.
    """
    if not live:
        shown = None
        status = job.last_status
        for status in job.iter_status(timeout):
            if status.code != shown:
                err.print(progress_line(time.monotonic() - started, status))
                shown = status.code
        return status
    line = StatusLine(job.job_id, started, job.last_status)
    with Live(line, console=err, refresh_per_second=8, transient=False):
        try:
            for status in job.iter_status(timeout):
                line.status = status
        finally:
            line.finish()
    return line.status


def stream_target_model(
    job: LinkJob, destination: Path, err: Console, always_show: bool, timeout: float | None = None
) -> str | None:
    """Read the target model as a stream into ``destination`` (official naming rules), with a
    progress bar on ``err`` for a large file (any file with ``always_show``); None if failed."""
    chunks = job.iter_target_model(timeout)
    first = next(chunks, None)
    if first is None:
        return None
    path = target_model_path(str(destination), first.filename)
    show = always_show or first.total_size >= LARGE_FILE
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show,
    )
    with progress, written_atomically(path) as file:
        task = progress.add_task(first.filename, total=first.total_size or None)
        file.write(first.data)
        progress.advance(task, len(first.data))
        for chunk in chunks:
            file.write(chunk.data)
            progress.advance(task, len(chunk.data))
    return path


async def watch_jobs(
    socket: Path | None,
    job_ids: Sequence[str],
    limit: int,
    out: Console,
    live: bool,
    as_json: bool,
    *,
    states: Sequence[str] = (),
    name_contains: str = "",
    follow: bool = False,
    err: Console | None = None,
) -> bool:
    """Show the jobs (these ids, or every job the daemon follows) from its job feed (WatchJobs).

    The feed's listing fills the board (every job in flight, and the ``limit`` newest finished
    ones); jobs that appear later join it, finished ones stay with their end state, untracked
    ones leave it. Without ``follow`` it ends once no job on the board is in flight.
    ``live``: a table on ``out`` redrawn on each change. Otherwise one line (or JSON object) per
    job of the listing, then one per change, each state transition kept. While the daemon
    restarts it says "reconnecting…" on ``err``. Returns True when a job it saw running failed.
    """
    board = WatchBoard([])
    board.following = follow
    running: set[str] = set()  # jobs seen in flight: their failure is the exit code
    shown: dict[str, tuple[str, str]] = {}
    outage = {"said": False}

    def on_lost(error: BaseException) -> None:
        if not outage["said"]:
            outage["said"] = True
            board.note = "reconnecting…"
            (err or out).print("reconnecting… (the daemon is not answering; waiting for it to come back)")

    def emit(job: AsyncLinkJob) -> None:
        status = job.last_status
        if not status.finished:
            running.add(job.job_id)
        if live or shown.get(job.job_id) == (status.code, status.message):
            return
        shown[job.job_id] = (status.code, status.message)
        _emit_change(job, status, as_json)

    async with _ctrl_c_stops_waiting(), AsyncClient(socket) as client:
        for job_id in job_ids:  # a job the daemon does not follow yet is read (and followed) first
            await client.get_job(job_id)
        listing: list[AsyncLinkJob] = []
        listed = False
        display = Live(board, console=out, refresh_per_second=4) if live else contextlib.nullcontext()
        with display:
            feed = client.watch_jobs(job_ids, [s.upper() for s in states] or None, name_contains, on_lost=on_lost)
            async for event in feed:
                if outage["said"]:
                    outage["said"], board.note = False, ""
                if event.kind == "SNAPSHOT" and event.job is not None:
                    if listed:  # the daemon's history no longer reached us: a fresh listing
                        listing, listed = [], False
                    listing.append(event.job)
                    continue
                if event.kind == "SNAPSHOT_END":
                    listed = True
                    for job in _newest(listing, limit):
                        board.update(job, job.last_status)
                        emit(job)
                    listing = []
                elif event.job is not None and event.kind == "UNTRACKED":
                    board.remove(event.job.job_id)
                    running.discard(event.job.job_id)
                    if not live:
                        _emit_untracked(event.job, as_json)
                elif event.job is not None:  # APPEARED, CHANGED
                    board.update(event.job, event.job.last_status)
                    emit(event.job)
                if listed and not follow and not board.running():
                    break
    return any(board.statuses[job_id].failure for job_id in running if job_id in board.statuses)


def _newest(jobs: Sequence[AsyncLinkJob], limit: int) -> list[AsyncLinkJob]:
    """Every job in flight and the ``limit`` newest finished ones, oldest first."""
    finished = sorted((j for j in jobs if j.last_status.finished), key=lambda j: j.date, reverse=True)[:limit]
    keep = {j.job_id for j in finished} | {j.job_id for j in jobs if not j.last_status.finished}
    return sorted((j for j in jobs if j.job_id in keep), key=lambda j: j.date)


def _emit_untracked(job: AsyncLinkJob, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"job_id": job.job_id, "name": job.name, "untracked": True}))
    else:
        click.echo(f"{job.job_id}  UNTRACKED  {job.name}")


@contextlib.asynccontextmanager
async def _ctrl_c_stops_waiting() -> AsyncIterator[None]:
    """Ctrl-C cancels the current task and surfaces as ``KeyboardInterrupt``.

    Through the loop's signal handling (a wakeup fd), so the loop wakes even when the signal
    lands on another thread (gRPC's) while it sleeps in ``epoll``.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no support
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _emit_change(job: AsyncLinkJob, status: JobStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(change_to_dict(job, status)))
    else:
        click.echo(watch_line(job, status))
