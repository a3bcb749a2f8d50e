"""``python -m tools.bench`` (``make bench``): measure the aihubd daemon as a black box.

Starts the Hub emulator and the daemon as subprocesses (loopback and Unix sockets only), drives
them through their CLI flags, the daemon's gRPC API and the emulator's request counters, prints
one table (value, same-run baseline, ratio, target, PASS/FAIL) and writes it as JSON.

    python -m tools.bench                 # everything, a few minutes on 2 cores
    python -m tools.bench --quick         # reduced sizes
    python -m tools.bench --only reads    # one scenario (repeatable: --only reads --only scale)

Exit status: 0 when every scenario ran (FAILs are results, not errors), 1 when a scenario could
not run, 2 with --strict when any target FAILs, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

SCENARIOS = (
    "requests",
    "notify",
    "reads",
    "delivery",
    "scale",
    "node",
    "resume",
    "upload",
    "notice",
    "watchers",
    "busy",
    "waits",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="reduced sizes (about a minute)")
    size.add_argument(
        "--smoke", action="store_true", help="toy sizes for the harness's own tests (verdicts mean nothing)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the results (default: ./bench-results.json)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="parent of the bench's scratch dir (default: the system "
        "temp dir); big files go there, so keep it on a real disk",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir (logs, databases)")
    parser.add_argument("--strict", action="store_true", help="exit 2 when any target FAILs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console

    from . import procs
    from .common import PROFILES, Ctx
    from .report import ERROR, FAIL, Report

    profile = "smoke" if args.smoke else "quick" if args.quick else "full"
    selected = [s for s in SCENARIOS if not args.only or s in args.only]
    console = Console(width=None if sys.stdout.isatty() else 180)
    procs.install_signal_handlers()
    base = args.workdir.resolve() if args.workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="aihubd-bench-", dir=base))
    report = Report(profile, {"scenarios": selected, **{s: PROFILES[profile][s] for s in selected}})
    ctx = Ctx(workdir=workdir, profile=profile, report=report)
    console.print(f"[bold]aihubd bench[/bold] ({profile}): {', '.join(selected)} — scratch dir {workdir}")
    interrupted = False
    try:
        for name in selected:
            module = importlib.import_module(f".scenario_{name}", __package__)
            console.print(f"[bold]▶ {module.TITLE}[/bold]", highlight=False)
            t0 = time.monotonic()
            try:
                module.run(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                report.error(module.TITLE, exc, traceback.format_exc())
                console.print(
                    f"[magenta]{module.TITLE} did not complete: {type(exc).__name__}: {exc}[/]", highlight=False
                )
            finally:
                procs.stop_all()  # nothing of one scenario outlives it
                report.timings[name] = round(time.monotonic() - t0, 1)
                console.print(f"  {module.TITLE}: {report.timings[name]:.0f} s", style="dim")
    except KeyboardInterrupt:
        interrupted = True
        console.print("[bold red]interrupted[/] — stopping every process the bench started")
    finally:
        procs.stop_all()
        report.print(console)
        try:
            report.write_json(args.json)
            console.print(f"results written to {args.json}")
        except OSError as exc:
            console.print(f"[red]could not write {args.json}: {exc}[/]")
        if args.keep:
            console.print(f"scratch dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if interrupted:
        return 130
    if any(row.status == ERROR for row in report.rows):
        return 1
    if args.strict and any(row.status == FAIL for row in report.rows):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
