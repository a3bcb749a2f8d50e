"""How ``aihubctl`` shows jobs and progress: JSON documents, key/value rows, rich text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from .job import LinkJob
from .status import JobStatus
from .values import DaemonInfo

__all__ = [
    "daemon_info_rows",
    "format_bytes",
    "format_elapsed",
    "job_list_lines",
    "job_rows",
    "job_to_dict",
    "progress_line",
    "status_style",
]


def job_to_dict(job: LinkJob) -> dict[str, Any]:
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


def job_rows(job: LinkJob) -> list[tuple[str, Text]]:
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
    return [
        ("version", Text(info.version)),
        ("hub", Text(f"{info.hub_url} ({info.hub_kind})")),
        ("reachable", reachable),
        ("account", Text(info.account_email or "-")),
        ("web", Text(info.web_url)),
        ("tracked jobs", Text(str(info.tracked_jobs))),
        ("in flight", Text(str(info.in_flight_jobs))),
        ("cache", Text(format_bytes(info.cache_bytes))),
    ]


def job_list_lines(jobs: list[LinkJob]) -> list[Text]:
    """One aligned line per job for ``aihubctl list``: id, status, created, name."""
    id_width = max((len(job.job_id) for job in jobs), default=0)
    code_width = max((len(job.last_status.code) for job in jobs), default=0)
    return [
        Text.assemble(
            f"{job.job_id:<{id_width}}  ",
            (f"{job.last_status.code:<{code_width}}", status_style(job.last_status)),
            f"  {job.date.isoformat(sep=' ')}  {job.name}",
        )
        for job in jobs
    ]


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
    return Text.assemble(
        (f"{format_elapsed(elapsed):>8}", "dim"), "  ", (status.code, status_style(status))
    )


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
