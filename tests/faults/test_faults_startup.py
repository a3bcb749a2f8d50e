"""Start-up and the store (issue 11, items 5, 13, 14): one daemon per directory, every start-up
failure a clear line and a non-zero exit within seconds, no future schema, integrity on demand."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from child_procs import run
from e2e_support import clean_env
from faults_support import WAIT, run_serve, start_served

from aihubd.store.database import SCHEMA_VERSION, Database, DatabaseUnusable
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc


def _one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The failed start-up printed exactly one error line (no traceback) containing ``expected``."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("aihubd: error:")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


# -- item 5: a second daemon on the same state or cache dir ------------------------------------


def test_a_second_daemon_on_the_same_state_dir_is_refused_before_touching_anything(base: Path) -> None:
    first = start_served(base / "a" / "aihubd.sock", base / "state")
    try:
        leftover = base / "state" / "cache" / "ingest" / "ingest-in-progress"  # the first one's download
        leftover.write_bytes(b"half an artifact")
        result = run_serve(base / "b" / "aihubd.sock", base / "state")
        _one_error_line(result, str(base / "state"), f"pid {first.proc.pid}", "in use")
        assert leftover.exists(), "the refused daemon cleaned up the running daemon's ingest"
        assert not (base / "b" / "aihubd.sock").exists()
        with grpc.insecure_channel(f"unix:{first.socket}") as channel:  # the first one still serves
            api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=WAIT)
    finally:
        assert first.stop() == 0


def test_a_second_daemon_on_the_same_cache_dir_is_refused(base: Path) -> None:
    first = start_served(base / "a" / "aihubd.sock", base / "state-a", "--cache-dir", str(base / "cache"))
    try:
        result = run_serve(base / "b" / "aihubd.sock", base / "state-b", "--cache-dir", str(base / "cache"))
        _one_error_line(result, "cache dir", str(base / "cache"), f"pid {first.proc.pid}")
    finally:
        assert first.stop() == 0
    # the lock goes with its holder: the same command now starts
    second = start_served(base / "b" / "aihubd.sock", base / "state-b", "--cache-dir", str(base / "cache"))
    assert second.stop() == 0


# -- item 13: every start-up failure is one line and a non-zero exit, never a hang ------------


def _garbage(state: Path) -> None:
    state.mkdir(parents=True)
    (state / "aihubd.db").write_bytes(os.urandom(3) + b"this is not SQLite" * 500)


def _corrupted_pages(state: Path) -> None:
    """A real daemon database with rows in many pages, then pages in the middle overwritten."""

    async def fill() -> None:
        db = await Database.open(state / "aihubd.db")
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO submissions (request_id, fingerprint, started_at) VALUES (?, ?, 0)",
                [(f"r{i:05d}", "x" * 200) for i in range(2000)],
            )
        await db.close()

    asyncio.run(fill())
    with sqlite3.connect(state / "aihubd.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    with (state / "aihubd.db").open("r+b") as f:
        f.seek(page * 20)
        f.write(b"\xa5" * page * 20)


@pytest.mark.parametrize("damage", [_garbage, _corrupted_pages], ids=["not-a-database", "corrupted-pages"])
def test_a_damaged_database_is_one_clear_line_and_no_socket(base: Path, damage) -> None:
    state = base / "state"
    damage(state)
    result = run_serve(base / "run" / "aihubd.sock", state)
    _one_error_line(result, str(state / "aihubd.db"), "damaged", "move it aside")
    assert not (base / "run" / "aihubd.sock").exists()


@pytest.fixture
def read_only_dir(base: Path) -> Iterator[Path]:
    """A read-only filesystem holding a state dir with a healthy database (root can ignore modes, not ro mounts)."""
    mount = base / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip() or 'not root'})")
    try:
        state = mount / "state"
        asyncio.run(_create_database(state / "aihubd.db"))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield state
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def _create_database(path: Path) -> None:
    db = await Database.open(path)
    await db.close()


def test_a_read_only_state_dir_is_one_clear_line_and_no_socket(base: Path, read_only_dir: Path) -> None:
    result = run_serve(base / "run" / "aihubd.sock", read_only_dir)
    _one_error_line(result, str(read_only_dir), "read-only")
    assert not (base / "run" / "aihubd.sock").exists()


def test_a_state_dir_that_cannot_be_created_is_one_clear_line(base: Path) -> None:
    (base / "file").write_text("not a directory")
    result = run_serve(base / "run" / "aihubd.sock", base / "file" / "state")
    _one_error_line(result, str(base / "file" / "state"))
    assert not (base / "run" / "aihubd.sock").exists()


def test_a_cache_dir_the_daemon_may_not_write_is_one_clear_line(base: Path) -> None:
    """Missing permissions, as an unprivileged user: the cache dir belongs to root, mode 0700."""
    if os.getuid() != 0 or not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs root and setpriv to run the daemon as another uid")
    cache = base / "root-cache"
    cache.mkdir(mode=0o700)
    home = base / "nobody"
    home.mkdir()
    os.chown(home, 65534, 65534)
    os.chmod(base, 0o755)
    result = run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            *_serve(home / "run" / "aihubd.sock", home / "state", "--cache-dir", str(cache / "sub")),
        ],
        capture_output=True,
        text=True,
        env=clean_env(HOME=str(home)),
        timeout=WAIT,
    )
    _one_error_line(result, str(cache / "sub"))
    assert not (home / "run" / "aihubd.sock").exists()


def _serve(socket: Path, state: Path, *extra: str) -> list[str]:
    from faults_support import serve_argv

    return [*serve_argv(socket, state, *extra), "--hub", "emulator"]


# -- item 14: a future schema is refused; quick_check at start; integrity_check on demand ------


def test_a_database_from_a_newer_aihubd_is_refused_and_left_untouched(base: Path) -> None:
    state = base / "state"
    asyncio.run(_create_database(state / "aihubd.db"))
    with sqlite3.connect(state / "aihubd.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = hashlib.sha256((state / "aihubd.db").read_bytes()).hexdigest()
    result = run_serve(base / "run" / "aihubd.sock", state)
    _one_error_line(result, f"schema version {SCHEMA_VERSION + 1}", f"knows ({SCHEMA_VERSION})")
    assert hashlib.sha256((state / "aihubd.db").read_bytes()).hexdigest() == before
    assert not (base / "run" / "aihubd.sock").exists()


def _break_an_index(db_path: Path) -> None:
    """An index whose entries do not match its table: quick_check passes, integrity_check does not."""
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        conn.execute("CREATE TABLE scratch (x INTEGER, y INTEGER)")
        conn.executemany("INSERT INTO scratch VALUES (?, ?)", [(i, 1000 - i) for i in range(50)])
        conn.execute("CREATE INDEX scratch_x ON scratch(x)")
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX scratch_x ON scratch(y)' WHERE name = 'scratch_x'")
        conn.execute("PRAGMA writable_schema = OFF")
    conn.close()


async def test_database_open_refuses_a_future_schema_and_runs_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "aihubd.db"
    await _create_database(path)
    _break_an_index(path)
    db = await Database.open(path)  # quick_check does not read index contents: it starts
    try:
        problems = await db.integrity_problems()
        assert problems and "missing from index scratch_x" in problems[0]
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DatabaseUnusable, match="newer than this aihubd knows"):
        await Database.open(path)


def test_daemon_check_runs_integrity_check_on_demand(base: Path) -> None:
    state = base / "state"
    asyncio.run(_create_database(state / "aihubd.db"))
    _break_an_index(state / "aihubd.db")
    daemon = start_served(base / "run" / "aihubd.sock", state)  # quick_check at start passes
    try:
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            report = api_grpc.DaemonServiceStub(channel).CheckDaemon(api.CheckDaemonRequest(), timeout=WAIT)
        assert not report.database_ok
        assert any("missing from index scratch_x" in p for p in report.database_problems)
        cli = run(
            [*_aihubctl(daemon.socket), "daemon", "check", "--json"], capture_output=True, text=True, timeout=WAIT
        )
        assert cli.returncode == 4, cli.stderr
        assert '"database_ok": false' in cli.stdout
    finally:
        assert daemon.stop() == 0


def test_daemon_check_of_a_sound_daemon_says_ok(base: Path) -> None:
    daemon = start_served(base / "run" / "aihubd.sock", base / "state")
    try:
        cli = run([*_aihubctl(daemon.socket), "daemon", "check"], capture_output=True, text=True, timeout=WAIT)
        assert cli.returncode == 0, cli.stderr
        assert "Database" in cli.stdout and "ok" in cli.stdout
    finally:
        assert daemon.stop() == 0


def _aihubctl(socket: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("aihubctl")), "--socket", str(socket)]
