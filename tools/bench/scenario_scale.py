"""5. Scale: the daemon with 10,000 tracked in-flight jobs, and start-up with 100,000 jobs.

In flight: the jobs are created on the emulator's REST API (never-uploaded model, so no link
runs; manual mode keeps them in flight) and adopted through the daemon's public TrackJob RPC,
pipelined. When the daemon is idle again, its RSS is read from /proc, then RefreshJobs runs
poll cycles on demand (the daemon's own timer is set to an hour): one warm-up cycle, then the
measured ones, each timed in daemon CPU (user + system, /proc/PID/stat) and wall time, with the
emulator counting the cycle's Hub requests.

Start-up: a daemon with its own Hub user adopts the in-flight jobs of a realistic database (real
jobs on the emulator) and a few finished template jobs through TrackJob, and is stopped. Its
database is then filled up to the wanted number of jobs by cloning the finished templates' rows,
schema-agnostically: every table with a ``job_id`` column gets a copy of the templates' rows under
new job ids (rowid keys left to SQLite). Start-up = spawn of ``aihubd serve`` to its
"aihubd ready on unix:..." line, next to the same daemon starting on an empty database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import HUB_RATE, Ctx, aio_stub, gather_limited, median
from .hubrest import HubRest
from .report import FAIL, PASS, Row, fmt_bytes

NAME = "scale"
TITLE = "5 scale"
TARGET_RSS = 300 * 1000 * 1000  # 300 MB
TARGET_CYCLE_CPU = 1.0
TARGET_STARTUP = 3.0
STARTUP_TOKEN = "aihubd-bench-startup"


async def _create_and_track(
    emu: procs.Emulator, daemon: procs.Daemon, count: int, token: str | None = None, name: str = "bench-scale"
) -> list[str]:
    """``count`` in-flight jobs on the Hub, each adopted by the daemon as soon as it exists."""
    async with HubRest(emu.base_url, token or emu.token) as hub:
        model = await hub.create_model()
        channel, stub, _ = aio_stub(daemon.target)
        async with channel:

            async def one(_: int) -> str:
                job_id = await hub.create_link_job([model], name)
                await stub.TrackJob(api.TrackJobRequest(job_id=job_id), timeout=120)
                return job_id

            # 16: the daemon's bound on one client's look-ups of untracked jobs (services/lookups.py)
            return await gather_limited(range(count), one, limit=16)


async def _refresh(daemon: procs.Daemon) -> api.RefreshJobsResponse:
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        return await stub.RefreshJobs(api.RefreshJobsRequest(), timeout=600)


async def _info(daemon: procs.Daemon) -> api.DaemonInfo:
    channel, _, dstub = aio_stub(daemon.target)
    async with channel:
        return await dstub.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=60)


def _wait_idle(daemon: procs.Daemon, limit: float = 30.0, quiet: float = 0.05) -> float:
    """Until the daemon uses less than ``quiet`` s of CPU per 0.5 s (bounded); returns the wait."""
    t0 = time.monotonic()
    last = daemon.cpu_seconds()
    while time.monotonic() - t0 < limit:
        time.sleep(0.5)
        now = daemon.cpu_seconds()
        if now - last < quiet:
            break
        last = now
    return time.monotonic() - t0


def _watched(wd: Path, daemon: procs.Daemon, watchers: int) -> dict[str, Any]:
    """RSS with ``watchers`` open WatchJobs streams (each listed every job first, then idle)."""
    argv = [sys.executable, "-m", "tools.bench.watch_load", "--socket", str(daemon.socket)]
    argv += ["--watchers", str(watchers), "--changes", "1", "--prefix", "bench-scale-watch #", "--timeout", "900"]
    t0 = time.monotonic()
    fleet = procs.start_argv("watch-scale", argv, logdir=wd / "logs")
    try:
        if fleet.wait_first_line(900) != "ready":
            raise procs.BenchError(f"the watchers did not list: {fleet.first_line!r}\n{fleet.log_tail()}")
        listed = time.monotonic() - t0
        _wait_idle(daemon)
        streams = asyncio.run(_info(daemon)).watch_streams
        rss = daemon.rss_bytes()
    finally:
        fleet.stop()
    return {
        "watchers": watchers,
        "watch_streams": streams,
        "rss_watched": rss,
        "rss_peak_watched": daemon.peak_rss_bytes(),
        "listed_s": listed,
    }


def _in_flight(ctx: Ctx, wd: Path, emu: procs.Emulator, count: int, cycles: int, watchers: int) -> dict[str, Any]:
    daemon = procs.start_daemon(
        wd,
        emu,
        name="daemon-inflight",
        poll_interval=3600,
        extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"}),
    )
    try:
        rss_start = daemon.rss_bytes()
        t0 = time.monotonic()
        asyncio.run(_create_and_track(emu, daemon, count))
        setup = time.monotonic() - t0
        _wait_idle(daemon)
        rss_idle = daemon.rss_bytes()
        runs = []
        for i in range(cycles + 1):  # the first one is a warm-up
            emu.reset_counters()
            cpu0, t0 = daemon.cpu_seconds(), time.perf_counter()
            reply = asyncio.run(_refresh(daemon))
            wall, cpu = time.perf_counter() - t0, daemon.cpu_seconds() - cpu0
            requests = sum(emu.counters().values())
            runs.append(
                {
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "polled": reply.polled,
                    "changed": reply.changed,
                    "hub_requests": requests,
                    "warmup": i == 0,
                }
            )
            time.sleep(0.3)
        info = asyncio.run(_info(daemon))
        rss_after = daemon.rss_bytes()
        peak = daemon.peak_rss_bytes()
        watching = _watched(wd, daemon, watchers)
    finally:
        daemon.stop()
    return {
        **watching,
        "jobs": count,
        "setup_s": setup,
        "rss_start": rss_start,
        "rss_idle": rss_idle,
        "rss_after": rss_after,
        "rss_peak": peak,
        "cycles": runs,
        "daemon_in_flight": info.in_flight_jobs,
        "daemon_tracked": info.tracked_jobs,
    }


def _find_job_db(state_dir: Path) -> Path:
    """The SQLite file under the daemon's state dir that has a ``jobs`` table with ``job_id``."""
    for path in sorted(state_dir.rglob("*")):
        if not path.is_file() or path.suffix in (".wal", ".shm") or path.name.endswith(("-wal", "-shm")):
            continue
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                continue
        con = sqlite3.connect(path)
        try:
            cols = [row[1] for row in con.execute("PRAGMA table_info(jobs)")]
        finally:
            con.close()
        if "job_id" in cols:
            return path
    raise procs.BenchError(f"no SQLite database with a jobs(job_id) table under {state_dir}")


def _clone_jobs(db: Path, templates: list[str], clones: int) -> dict[str, int]:
    """Copy the templates' rows in every table with a ``job_id`` column under new job ids."""
    con = sqlite3.connect(db, isolation_level=None)
    inserted: dict[str, int] = {}
    try:
        tables = [
            name
            for name, sql in con.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if sql and not sql.upper().startswith("CREATE VIRTUAL")
        ]
        plans = []
        for table in tables:
            info = list(con.execute(f'PRAGMA table_info("{table}")'))
            names = [row[1] for row in info]
            if "job_id" not in names:
                continue
            pks = [row for row in info if row[5]]
            # An INTEGER PRIMARY KEY is the rowid: leave it to SQLite.
            skip = {pks[0][1]} if len(pks) == 1 and pks[0][2].upper() == "INTEGER" and pks[0][1] != "job_id" else set()
            cols = [n for n in names if n not in skip]
            marks = ", ".join("?" * len(templates))
            rows = list(
                con.execute(
                    f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" WHERE job_id IN ({marks})',
                    templates,
                )
            )
            plans.append((table, cols, cols.index("job_id"), rows))
        by_template = {t: i for i, t in enumerate(templates)}
        con.execute("BEGIN IMMEDIATE")
        for table, cols, at, rows in plans:
            sql = (
                f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f"VALUES ({', '.join('?' * len(cols))})"
            )
            grouped: dict[str, list[tuple[Any, ...]]] = {}
            for row in rows:
                grouped.setdefault(row[at], []).append(row)

            def generate(grouped: dict[str, list[tuple[Any, ...]]] = grouped, at: int = at) -> Any:
                for n in range(clones):
                    template = templates[n % len(templates)]
                    new_id = f"jb{n:08d}x{by_template[template]}"
                    for row in grouped.get(template, ()):
                        out = list(row)
                        out[at] = new_id
                        yield out

            cur = con.executemany(sql, generate())
            inserted[table] = cur.rowcount
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return inserted


def _startup(ctx: Ctx, wd: Path, emu: procs.Emulator, total: int, in_flight: int, starts: int) -> dict[str, Any]:
    flags = ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    empty = []
    for i in range(starts):
        d = procs.start_daemon(wd, emu, name=f"daemon-empty-{i}", poll_interval=3600, extra=flags, token=STARTUP_TOKEN)
        empty.append(d.startup_seconds)
        d.stop()
    state = wd / "daemon-startup-state"
    daemon = procs.start_daemon(
        wd, emu, name="daemon-startup", state_dir=state, poll_interval=3600, extra=flags, token=STARTUP_TOKEN
    )
    try:
        asyncio.run(_create_and_track(emu, daemon, in_flight, token=STARTUP_TOKEN, name="bench-startup"))
        templates = asyncio.run(_create_and_track(emu, daemon, 3, token=STARTUP_TOKEN, name="bench-startup-done"))
        for job_id in templates:
            emu.advance(job_id)
            emu.advance(job_id)  # -> FAILED (never-uploaded input)
        reply = asyncio.run(_refresh(daemon))
    finally:
        daemon.stop()
    db = _find_job_db(state)
    con = sqlite3.connect(db)
    try:
        states = (
            dict(
                con.execute(
                    f"SELECT job_id, terminal FROM jobs WHERE job_id IN ({', '.join('?' * 3)})", templates
                ).fetchall()
            )
            if _has_column(con, "jobs", "terminal")
            else {}
        )
        have = con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    finally:
        con.close()
    if states and not all(states.values()):
        raise procs.BenchError(f"template jobs are not terminal in the daemon's database: {states}")
    t0 = time.monotonic()
    inserted = _clone_jobs(db, templates, max(0, total - have))
    clone_s = time.monotonic() - t0
    times = []
    info = None
    for i in range(starts):
        d = procs.start_daemon(
            wd, emu, name=f"daemon-startup-{i}", state_dir=state, poll_interval=3600, extra=flags, token=STARTUP_TOKEN
        )
        times.append(d.startup_seconds)
        if i == 0:
            info = asyncio.run(_info(d))
        d.stop()
    return {
        "jobs": total,
        "in_flight": in_flight,
        "startup_s": times,
        "empty_startup_s": empty,
        "clone_s": clone_s,
        "inserted": inserted,
        "db_bytes": db.stat().st_size,
        "refresh_polled": reply.polled,
        "daemon_tracked": info.tracked_jobs if info else None,
        "daemon_in_flight": info.in_flight_jobs if info else None,
    }


def _has_column(con: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in con.execute(f'PRAGMA table_info("{table}")'))


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    emu = procs.start_emulator(wd, manual=True)
    failures: list[BaseException] = []
    inflight: dict[str, Any] | None = None
    startup: dict[str, Any] | None = None
    try:
        try:
            inflight = _in_flight(ctx, wd, emu, p["in_flight"], p["cycles"], p["watchers"])
        except procs.BenchError as exc:
            failures.append(exc)
        startup = _startup(ctx, wd, emu, p["db_jobs"], p["db_in_flight"], p["starts"])
    finally:
        emu.stop()
    report = ctx.report
    if inflight is not None:
        n = inflight["jobs"]
        measured = [c for c in inflight["cycles"] if not c["warmup"]] or inflight["cycles"]
        cpu = median([c["cpu_s"] for c in measured])
        wall = median([c["wall_s"] for c in measured])
        reqs = median([c["hub_requests"] for c in measured])
        warm = inflight["cycles"][0]
        rss = max(inflight["rss_idle"], inflight["rss_after"])
        report.add(
            Row(
                TITLE,
                f"daemon RSS with {n:,} tracked in-flight jobs",
                f"{rss / 1e6:,.0f} MB",
                baseline=f"at start {inflight['rss_start'] / 1e6:,.0f} MB",
                ratio=rss / inflight["rss_start"],
                target=f"< {TARGET_RSS / 1e6:.0f} MB",
                status=PASS if rss < TARGET_RSS else FAIL,
                note=f"peak {inflight['rss_peak'] / 1e6:,.0f} MB; "
                f"daemon reports {inflight['daemon_in_flight']:,} in flight; "
                f"created + adopted in {inflight['setup_s']:.0f} s",
                data=inflight,
            )
        )
        watched = inflight["rss_watched"]
        report.add(
            Row(
                TITLE,
                f"daemon RSS with {n:,} in-flight jobs and {inflight['watchers']} open WatchJobs streams",
                f"{watched / 1e6:,.0f} MB",
                baseline=f"without the streams {rss / 1e6:,.0f} MB",
                ratio=watched / rss if rss else None,
                target=f"< {TARGET_RSS / 1e6:.0f} MB",
                status=PASS if watched < TARGET_RSS and inflight["watch_streams"] == inflight["watchers"] else FAIL,
                note=f"each stream listed all {n:,} jobs first (all listed in {inflight['listed_s']:.1f} s), then "
                f"stayed open; the daemon counted {inflight['watch_streams']} streams; "
                f"peak {inflight['rss_peak_watched'] / 1e6:,.0f} MB",
                data={
                    k: inflight[k] for k in ("watchers", "watch_streams", "rss_watched", "rss_peak_watched", "listed_s")
                },
            )
        )
        report.add(
            Row(
                TITLE,
                f"CPU per poll cycle, {n:,} in flight",
                f"{cpu:.2f} s CPU",
                baseline=f"wall {wall:.2f} s",
                target=f"< {TARGET_CYCLE_CPU:g} s CPU",
                status=PASS if cpu < TARGET_CYCLE_CPU and measured[0]["polled"] > 0 else FAIL,
                note=f"median of {len(measured)} (RefreshJobs); {reqs:,.0f} Hub requests/cycle; polled "
                f"{measured[0]['polled']:,}; warm-up cycle {warm['cpu_s']:.2f} s CPU, "
                f"{warm['hub_requests']:,} requests",
                data={"cycles": inflight["cycles"]},
            )
        )
    if startup is not None:
        t = median(startup["startup_s"])
        base = median(startup["empty_startup_s"])
        report.add(
            Row(
                TITLE,
                f"start-up with {startup['jobs']:,} jobs in the database",
                f"{t:.2f} s",
                baseline=f"empty DB {base:.2f} s",
                ratio=t / base if base else None,
                target=f"< {TARGET_STARTUP:g} s",
                status=PASS if t < TARGET_STARTUP else FAIL,
                note=f"median of {len(startup['startup_s'])}, spawn → ready line; {startup['in_flight']:,} in flight; "
                f"DB {fmt_bytes(startup['db_bytes'])}; daemon reports {startup['daemon_tracked']} tracked",
                data=startup,
            )
        )
        report.note(
            "Start-up DB: in-flight jobs are real emulator jobs adopted with TrackJob; the rest are copies of "
            "finished (FAILED) jobs' rows, made in every table with a job_id column, so the figure follows "
            "the daemon's schema as it changes. Start-up includes the interpreter and imports."
        )
    for exc in failures:
        raise exc
