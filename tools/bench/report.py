"""The bench's results: rows with a value, a same-run baseline, a ratio, a target and a verdict.

Printed as a rich table (plus notes) and written as JSON. Verdicts: PASS / FAIL against the
target, INFO for context figures without a target, ERROR when a scenario could not run (the
harness's problem, not the daemon's), SKIP when not measured on purpose.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["ERROR", "FAIL", "INFO", "PASS", "SKIP", "Report", "Row", "fmt_bytes", "fmt_ms", "fmt_rate", "verdict"]

PASS, FAIL, INFO, ERROR, SKIP = "PASS", "FAIL", "INFO", "ERROR", "SKIP"
_STYLE = {PASS: "bold green", FAIL: "bold red", INFO: "dim", ERROR: "bold magenta", SKIP: "yellow"}


def verdict(ok: bool | None) -> str:
    return INFO if ok is None else (PASS if ok else FAIL)


def fmt_rate(value: float, unit: str = "/s") -> str:
    if value >= 100:
        return f"{value:,.0f}{unit}"
    if value >= 10:
        return f"{value:,.1f}{unit}"
    return f"{value:,.2f}{unit}"


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:.0f} B"


@dataclass
class Row:
    scenario: str
    measurement: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    status: str = INFO
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Report:
    def __init__(self, profile: str, params: dict[str, Any]) -> None:
        self.profile = profile
        self.params = params
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.errors: list[dict[str, str]] = []
        self.timings: dict[str, float] = {}
        self.started = datetime.now(UTC)
        self._t0 = time.monotonic()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, scenario: str, exc: BaseException, detail: str = "") -> None:
        message = f"{type(exc).__name__}: {exc}"
        self.errors.append({"scenario": scenario, "error": message, "detail": detail})
        self.add(Row(scenario, "scenario did not complete", "—", status=ERROR, note=message.splitlines()[0][:200]))

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def table(self) -> Table:
        table = Table(
            title=f"aihubd bench ({self.profile}) — every ratio from this run",
            show_lines=False,
            header_style="bold",
            expand=False,
        )
        table.add_column("scenario", no_wrap=True)
        table.add_column("measurement")
        table.add_column("value", justify="right")
        table.add_column("same-run baseline", justify="right")
        table.add_column("ratio", justify="right")
        table.add_column("target")
        table.add_column("result", no_wrap=True)
        last = None
        for row in self.rows:
            if last is not None and row.scenario != last:
                table.add_section()
            last = row.scenario
            ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
            measurement = row.measurement + (f"\n[dim]{row.note}[/dim]" if row.note else "")
            table.add_row(
                row.scenario,
                measurement,
                row.value,
                row.baseline,
                ratio,
                row.target,
                f"[{_STYLE.get(row.status, '')}]{row.status}[/]",
            )
        return table

    def print(self, console: Console | None = None) -> None:
        console = console or Console()
        console.print(self.table())
        counts = self.counts
        summary = ", ".join(f"{counts[k]} {k}" for k in (PASS, FAIL, ERROR, SKIP, INFO) if counts.get(k))
        console.print(f"[bold]{summary}[/bold] in {time.monotonic() - self._t0:.0f} s")
        if self.notes:
            console.print("[bold]Notes[/bold]")
            for text in self.notes:
                console.print(f" • {text}", highlight=False)
        for err in self.errors:
            console.print(f"[bold magenta]error in {err['scenario']}:[/] {err['error']}", highlight=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "profile": self.profile,
            "started": self.started.isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - self._t0, 1),
            "host": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "params": self.params,
            "summary": self.counts,
            "rows": [asdict(row) for row in self.rows],
            "notes": self.notes,
            "errors": self.errors,
            "scenario_seconds": self.timings,
        }

    def write_json(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
