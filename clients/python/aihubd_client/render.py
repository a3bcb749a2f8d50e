"""How ``aihubctl`` shows jobs and progress: JSON documents, key/value rows, rich text."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .jobview import JobView
from .status import JobStatus
from .values import DaemonInfo, Device

__all__ = [
    "StatusLine",
    "WatchBoard",
    "change_to_dict",
    "daemon_info_rows",
    "devices_table",
    "format_bytes",
    "format_elapsed",
    "job_rows",
    "job_to_dict",
    "jobs_table",
    "progress_line",
    "status_style",
    "watch_line",
]


def job_to_dict(job: JobView) -> dict[str, Any]:
    """The job as a JSON-ready mapping (``aihubctl status --json``)."""
    status = job.last_status
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": status.code,
        "state": int(status.state),
        "message": status.message,
        "date": job.date.isoformat(),
        "device": {
            "name": job.device.name,
            "os": job.device.os,
            "attributes": list(job.device.attributes),
        },
        "models": [{"model_id": model.model_id, "name": model.name} for model in job.models],
        "options": job.options,
        "project_id": job.project_id,
        "url": job.url,
        "target_model_id": job.target_model_id,
        "available_artifacts": [kind.name for kind in job.available_artifacts],
        "stale": job.stale,
        "last_refresh_time": _iso(job.last_refresh_time),
    }


def job_rows(job: JobView) -> list[tuple[str, Text]]:
    """Label/value rows for the human ``aihubctl status`` view."""
    status = job.last_status
    rows: list[tuple[str, Text]] = [
        ("job", Text(job.job_id)),
        ("name", Text(job.name)),
        ("status", Text(status.code, style=status_style(status))),
    ]
    if status.message:
        rows.append(("message", Text(status.message)))
    rows += [
        ("created", Text(job.date.isoformat(sep=" "))),
        ("device", Text(job.device.name)),
        ("models", Text(", ".join(_model_label(m.model_id, m.name) for m in job.models))),
    ]
    if job.options:
        rows.append(("options", Text(job.options)))
    if job.project_id:
        rows.append(("project", Text(job.project_id)))
    if job.target_model_id:
        rows.append(("target model", Text(job.target_model_id)))
    rows.append(("url", Text(job.url)))
    if job.stale:
        stale = "stale: the daemon could not reach the Hub at its last attempt"
        rows.append(("note", Text(stale, "yellow")))
    return rows


def daemon_info_rows(info: DaemonInfo) -> list[tuple[str, Text]]:
    """Label/value rows for ``aihubctl daemon status``."""
    if info.hub_reachable:
        reachable = Text("yes", "green")
    else:
        reachable = Text.assemble(("no", "bold red"), f" ({info.hub_error})" if info.hub_error else "")
    rows = [
        ("pid", Text(str(info.pid) if info.pid else "-")),
        ("socket", Text(info.socket_path or "-")),
        ("version", Text(info.version)),
        ("uptime", Text(format_elapsed(info.uptime_seconds))),
        ("hub", Text(f"{info.hub_url} ({info.hub_kind})")),
        ("reachable", reachable),
        ("account", Text(info.account_email or "-")),
        ("token from", Text(info.token_source or "-")),
    ]
    if info.emulator_token:
        rows.append(("emulator token", Text(info.emulator_token)))
    rows += [
        ("web", Text(info.web_url)),
        ("tracked jobs", Text(str(info.tracked_jobs))),
        ("in flight", Text(str(info.in_flight_jobs))),
        ("cache", Text(format_bytes(info.cache_bytes))),
        ("hub protocol", Text(f"qai-hub {info.hub_protocol_version}" if info.hub_protocol_version else "-")),
        ("hub traffic", _traffic(info)),
    ]
    if info.state_dir:
        rows.append(("state dir", Text(info.state_dir)))
    return rows


def devices_table(devices: Sequence[Device]) -> Table:
    """The ``aihubctl devices`` table: name, OS, attributes."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("DEVICE", no_wrap=True)
    table.add_column("OS", no_wrap=True)
    table.add_column("ATTRIBUTES", overflow="fold")
    for device in devices:
        table.add_row(device.name, device.os, ", ".join(device.attributes))
    return table


def _traffic(info: DaemonInfo) -> Text:
    """ "ok", or why Hub traffic is held: parked by a 401 (next re-probe) or paused by Retry-After."""
    held: list[str] = []
    if info.hub_auth_state and info.hub_auth_state != "ok":
        held.append(
            f"{info.hub_auth_state} since {info.hub_auth_parked_since or '?'}, "
            f"next probe {info.hub_auth_next_probe or 'on the next request'}"
        )
    if info.hub_paused_until:
        held.append(f"paused by the Hub's Retry-After until {info.hub_paused_until}")
    return Text("; ".join(held), "yellow") if held else Text("ok", "green")


def jobs_table(jobs: Sequence[JobView]) -> Table:
    """The ``aihubctl jobs`` table: id, status, created, device, name."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for column in ("JOB", "STATUS", "CREATED", "DEVICE"):
        table.add_column(column, no_wrap=True)
    table.add_column("NAME", overflow="fold")
    for job in jobs:
        status = job.last_status
        table.add_row(
            job.job_id,
            Text(status.code, style=status_style(status)),
            job.date.isoformat(sep=" ", timespec="seconds"),
            job.device.name,
            job.name,
        )
    return table


class StatusLine:
    """``aihubctl wait``'s live line: a spinner, the status, the elapsed time, the job.

    Rendered again at each refresh of a ``rich.live.Live``, so the time keeps ticking while
    the stream is quiet. ``finish()`` freezes it.
    """

    def __init__(self, job_id: str, started: float, status: JobStatus) -> None:
        self.job_id = job_id
        self.status = status
        self._started = started
        self._ended: float | None = None
        self._spinner = Spinner("dots", style="cyan")

    def finish(self) -> None:
        self._ended = time.monotonic()

    def __rich__(self) -> RenderableType:
        elapsed = (self._ended or time.monotonic()) - self._started
        text = Text.assemble(
            (self.status.code, status_style(self.status)),
            "  ",
            (format_elapsed(elapsed), "dim"),
            f"  job {self.job_id}",
        )
        if self._ended is not None or self.status.finished:
            return text
        self._spinner.update(text=text)
        return self._spinner


class WatchBoard:
    """``aihubctl watch``'s live table: every watched job, its status and age."""

    def __init__(self, jobs: Sequence[JobView]) -> None:
        self.jobs = list(jobs)
        self.statuses: dict[str, JobStatus] = {job.job_id: job.last_status for job in jobs}
        self.following = False  # `watch --follow`: goes on after every job finished
        self.note = ""  # e.g. "reconnecting…"

    def update(self, job: JobView, status: JobStatus) -> bool:
        """Record a status (a job not on the board joins it, or replaces its older view);
        True when it differs from what the board showed."""
        before = self.statuses.get(job.job_id)
        if before is None:
            self.jobs.append(job)
        else:
            self.jobs = [job if j.job_id == job.job_id else j for j in self.jobs]
        self.statuses[job.job_id] = status
        return before is None or (before.code, before.message) != (status.code, status.message)

    def remove(self, job_id: str) -> None:
        """An untracked job leaves the board."""
        self.jobs = [j for j in self.jobs if j.job_id != job_id]
        self.statuses.pop(job_id, None)

    def running(self) -> int:
        return sum(not status.finished for status in self.statuses.values())

    def __rich__(self) -> RenderableType:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for column in ("JOB", "STATUS", "AGE", "NAME"):
            table.add_column(column, no_wrap=column != "NAME")
        now = datetime.now()
        for job in self.jobs:
            status = self.statuses[job.job_id]
            age = format_elapsed((now - job.date).total_seconds())
            table.add_row(job.job_id, Text(status.code, style=status_style(status)), age, job.name)
        running = self.running()
        if running:
            caption = f"{running} of {len(self.jobs)} still running  (Ctrl-C stops watching)"
        elif self.following:
            caption = f"all {len(self.jobs)} finished; following  (Ctrl-C stops watching)"
        else:
            caption = f"all {len(self.jobs)} finished"
        table.caption = f"{self.note}  {caption}" if self.note else caption
        return table


def watch_line(job: JobView, status: JobStatus) -> str:
    """One change for ``aihubctl watch`` without a terminal: ``<job>  <STATUS>  <name>``."""
    reason = f"  ({status.message})" if status.message else ""
    return f"{job.job_id}  {status.code}  {job.name}{reason}"


def change_to_dict(job: JobView, status: JobStatus) -> dict[str, Any]:
    """One change for ``aihubctl watch --json`` (a JSON object per line)."""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": status.code,
        "state": int(status.state),
        "message": status.message,
    }


def format_bytes(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    value, unit = float(size), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def progress_line(elapsed: float, status: JobStatus) -> Text:
    """One state change for stderr: ``   3.2s  LINKING_MODELS``."""
    return Text.assemble((f"{format_elapsed(elapsed):>8}", "dim"), "  ", (status.code, status_style(status)))


def format_elapsed(seconds: float) -> str:
    """``3.2s``, ``1m05.0s``, ``2h03m05s``."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes:02d}m{int(rest):02d}s"


def status_style(status: JobStatus) -> str:
    """Green for SUCCESS, red for FAILED, yellow while in progress."""
    if status.success:
        return "bold green"
    if status.failure:
        return "bold red"
    return "yellow"


def _model_label(model_id: str, name: str) -> str:
    return f"{model_id} ({name})" if name else model_id


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
