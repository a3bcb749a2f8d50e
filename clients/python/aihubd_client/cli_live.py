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
) -> bool:
    """Show the jobs (these ids, or every tracked one) until all are finished.

    ``live``: a table on ``out`` redrawn on each change. Otherwise one line (or JSON object) per
    job and change: a finished job's line at once, an unfinished job's first line once its wait
    stream is open (so a reader knows no later change can be missed). Returns True when a job
    it waited for failed.
    """
    async with _ctrl_c_stops_waiting(), AsyncClient(socket) as client:
        if job_ids:
            jobs = [await client.get_job(job_id) for job_id in job_ids]
        else:
            jobs = await client.get_jobs(limit=limit)
        board = WatchBoard(jobs)
        pending = [job for job in jobs if not job.last_status.finished]
        if not live:
            for job in jobs:
                if job.last_status.finished:
                    _emit_change(job, job.last_status, as_json)
        shown: dict[str, tuple[str, str]] = {}
        changes: asyncio.Queue[tuple[AsyncLinkJob, JobStatus | BaseException]] = asyncio.Queue()
        tasks = [asyncio.create_task(_follow_async(job, changes)) for job in pending]
        display = Live(board, console=out, refresh_per_second=4) if live else contextlib.nullcontext()
        waiting = {job.job_id for job in pending}
        try:
            with display:
                while waiting:
                    job, event = await changes.get()
                    if isinstance(event, BaseException):
                        raise event
                    board.update(job, event)
                    if not live and shown.get(job.job_id) != (event.code, event.message):
                        shown[job.job_id] = (event.code, event.message)
                        _emit_change(job, event, as_json)
                    if event.finished:
                        waiting.discard(job.job_id)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return any(board.statuses[job.job_id].failure for job in pending)


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


async def _follow_async(
    job: AsyncLinkJob, changes: asyncio.Queue[tuple[AsyncLinkJob, JobStatus | BaseException]]
) -> None:
    try:
        async for status in job.iter_status():
            changes.put_nowait((job, status))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        changes.put_nowait((job, exc))


def _emit_change(job: AsyncLinkJob, status: JobStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(change_to_dict(job, status)))
    else:
        click.echo(watch_line(job, status))
