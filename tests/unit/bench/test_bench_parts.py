"""The bench's pure parts: statistics, the window-rate estimator, DB cloning, the report."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.bench.common import median, percentile  # noqa: E402
from tools.bench.hubrest import Window  # noqa: E402
from tools.bench.report import FAIL, PASS, Report, Row  # noqa: E402
from tools.bench.scenario_scale import _clone_jobs, _find_job_db  # noqa: E402


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_window_rate_ignores_the_partial_cycle_at_either_end() -> None:
    # Bursts of 5 requests every 1.0 s starting at 0.3 s, sampled every 0.1 s over 3.95 s: a plain
    # window counts 4 bursts in 3.95 s; the aligned rate sees 3 intervals of 1 s between 4 bursts.
    samples = [(0.0, 0)]
    total = 0
    for i in range(1, 40):
        t = round(i * 0.1, 1)
        if t in (0.3, 1.3, 2.3, 3.3):
            total += 5
        samples.append((t, total))
    samples.append((3.95, total))
    window = Window(samples, {"GET x": total})
    assert window.plain_rate == pytest.approx(20 / 3.95)
    assert window.rate == pytest.approx(5.0)  # 15 requests after the first burst, in 3 s


def test_window_rate_counts_a_burst_spread_over_samples_once() -> None:
    # Bursts of 5 (3 then 2 in the next sample) every 1.0 s: 2 bursts in a 2 s window.
    samples = [(0.0, 0), (0.1, 0), (0.2, 0), (0.3, 3), (0.35, 5), (0.6, 5), (1.3, 8), (1.35, 10), (2.0, 10)]
    window = Window(samples, {})
    assert window.rate == pytest.approx(5.0)


def test_window_rate_of_a_steady_stream_runs_first_to_last_arrival() -> None:
    samples = [(0.0, 0)] + [(round(0.05 * i, 2), 2 * i - 1) for i in range(1, 21)]  # 40/s from the first sample
    window = Window(samples, {})
    assert window.rate == pytest.approx(40.0)


def test_rate_error_comes_from_jittered_gaps_between_equal_bursts() -> None:
    times = [0.3, 1.1, 2.3, 3.2, 4.4]  # one request per cycle, cycles of 0.8-1.2 s
    samples = [(0.0, 0)]
    for i, t in enumerate(times, start=1):
        samples += [(t, i)]
    samples.append((5.0, len(times)))
    window = Window(samples, {})
    gaps = [0.8, 1.2, 0.9, 1.2]
    mean = sum(gaps) / 4
    std = (sum((g - mean) ** 2 for g in gaps) / 3) ** 0.5
    assert window.rate_rel_error() == pytest.approx(std / mean / 2)
    # Unequal bursts (independent schedules) are not one poller's cycles: no noise estimate.
    uneven = Window([(0.0, 0), (0.3, 1), (1.0, 4), (1.6, 5), (2.5, 9), (3.0, 10)], {})
    assert uneven.rate_rel_error() == 0.0


def test_window_rate_falls_back_without_enough_arrivals() -> None:
    window = Window([(0.0, 0), (1.0, 2), (2.0, 2)], {})
    assert window.rate == window.plain_rate == 1.0


def _toy_daemon_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, name TEXT NOT NULL, state INTEGER, terminal INTEGER);
        CREATE TABLE job_history (job_id TEXT NOT NULL REFERENCES jobs(job_id), state INTEGER, observed_at REAL);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, job_id TEXT, text TEXT);
        CREATE TABLE unrelated (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO jobs VALUES ('jdone1', 'a', 30, 1), ('jdone2', 'b', 10, 1), ('jlive', 'c', 1, 0);
        INSERT INTO job_history VALUES ('jdone1', 1, 1.0), ('jdone1', 30, 2.0), ('jdone2', 10, 3.0), ('jlive', 1, 4.0);
        INSERT INTO notes (job_id, text) VALUES ('jdone1', 'n1');
        INSERT INTO unrelated VALUES ('k', 'v');
    """)
    con.commit()
    con.close()


def test_clone_jobs_copies_every_job_table_under_new_ids(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "not-a-db.txt").write_text("hello")
    db = state / "aihubd.db"
    _toy_daemon_db(db)
    assert _find_job_db(state) == db

    inserted = _clone_jobs(db, ["jdone1", "jdone2"], 10)

    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 13
        assert con.execute("SELECT COUNT(*) FROM jobs WHERE terminal = 0").fetchone()[0] == 1
        assert con.execute("SELECT COUNT(DISTINCT job_id) FROM jobs").fetchone()[0] == 13
        # 5 clones of jdone1 (2 history rows each) + 5 of jdone2 (1 each), plus the 4 originals
        assert con.execute("SELECT COUNT(*) FROM job_history").fetchone()[0] == 4 + 15
        assert con.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 1 + 5
        assert con.execute("SELECT COUNT(*) FROM unrelated").fetchone()[0] == 1
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    assert inserted == {"jobs": 10, "job_history": 15, "notes": 5}


def test_report_writes_json_with_every_row(tmp_path: Path) -> None:
    report = Report("smoke", {"x": 1})
    report.add(Row("3 reads", "GetJob", "1/s", baseline="echo 2/s", ratio=0.5, target="≥ 0.70", status=FAIL))
    report.add(Row("3 reads", "other", "2/s", status=PASS, data={"n": 2}))
    report.note("a note")
    report.error("5 scale", RuntimeError("boom"))
    out = tmp_path / "r.json"
    report.write_json(out)
    data = json.loads(out.read_text())
    assert [r["status"] for r in data["rows"]] == ["FAIL", "PASS", "ERROR"]
    assert data["summary"] == {"FAIL": 1, "PASS": 1, "ERROR": 1}
    assert data["notes"] == ["a note"]
    assert data["errors"][0]["scenario"] == "5 scale"
    assert data["rows"][1]["data"] == {"n": 2}


@pytest.mark.parametrize("threads", [False, True], ids=["tasks", "threads"])
def test_the_fan_out_micro_bench_runs_against_the_client_of_today(threads: bool) -> None:
    """tools/bench/fanout_micro.py drives the real client over in-memory fakes; when the client's
    connection interface changes, the fakes must follow (they once hung on a new argument)."""
    from tools.bench import fanout_micro

    if threads:
        latencies = fanout_micro._threads_round(20, 2, 20.0)
    else:
        latencies = asyncio.run(fanout_micro._tasks_round(20, 2, 20.0))
    assert len(latencies) == 20 * 2 and all(0 <= ms < 20_000 for ms in latencies)
