"""The real ``aihubctl`` (a subprocess, ``AIHUBD_SOCKET`` in its environment) against a real
daemon and the emulator: output, ``--json`` parsed back, exit codes.

One emulator (manual mode) and one daemon serve the module. Jobs are made with the library
where the CLI is not the subject. A command that waits is started with ``Popen``; its first
status line on stderr says its stream is open, then the test finishes the job.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub
from child_procs import popen, run
from e2e_support import (
    TEST_TOKEN,
    Daemon,
    Emulator,
    clean_env,
    finish_job,
    hub_writes,
    make_dlc,
    refresh,
    start_hub_daemon,
    stub,
)

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client import Client, LinkJob
from aihubd_client.exit_codes import ExitCode

DEVICE = "Snapdragon 8 Elite QRD"
OTHER_TOKEN = "test-token-cli-second-user"
AIHUBCTL = Path(sys.executable).with_name("aihubctl")
ELAPSED = r"\d+\.\ds"


# ---------------------------------------------------------------------------- fixtures
# hub_emulator, served (the module's emulator and daemon) and broken come from conftest.py.


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("models")
    return make_dlc(base / "graph_a.dlc", b"A" * 4096), make_dlc(base / "graph_b.dlc", b"B" * 4096)


@pytest.fixture(scope="module")
def lib(served: Daemon) -> Iterator[Client]:
    with Client(served.socket) as client:
        yield client


# ---------------------------------------------------------------------------- helpers


def _env(socket: Path, **extra: str) -> dict[str, str]:
    return clean_env(AIHUBD_SOCKET=str(socket), NO_COLOR="1", **extra)


def ctl(daemon: Daemon, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run aihubctl to the end."""
    return run(
        [str(AIHUBCTL), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(daemon.socket),
        cwd=cwd,
        check=False,
    )


def started(daemon: Daemon, *args: str) -> subprocess.Popen[str]:
    """Start aihubctl (stdin closed, pipes for stdout and stderr)."""
    return popen(
        [str(AIHUBCTL), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(daemon.socket),
    )


def ended(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _step(emulator: Emulator, daemon: Daemon, job_id: str, expected: int) -> None:
    emulator.advance(job_id)
    refresh(daemon.socket)
    with stub(daemon.socket) as s:
        assert s.GetJob(api.GetJobRequest(job_id=job_id), timeout=30).state == expected


def _submit(lib: Client, models: tuple[Path, Path], **kwargs: object) -> str:
    job = lib.submit_link_job(list(models), DEVICE, **kwargs)
    assert isinstance(job, LinkJob)
    return job.job_id


def _finished(
    lib: Client, emulator: Emulator, daemon: Daemon, models: tuple[Path, Path], final: int = api.JOB_STATE_DONE
) -> str:
    job_id = _submit(lib, models)
    finish_job(emulator, daemon, job_id, final)
    return job_id


def _clean_failure(result: subprocess.CompletedProcess[str], code: int) -> None:
    """The documented exit code, and the error as the last stderr line (after any progress)."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("aihubctl: error: ")


# ---------------------------------------------------------------------------- link, status, jobs


def test_link_prints_the_job_id_and_status_json_parses_back(served, models):
    done = ctl(served, "link", str(models[0]), str(models[1]), "-d", DEVICE, "--name", "cli link", "--options=--foo")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert re.fullmatch(r"j\w+", job_id) and done.stdout == f"{job_id}\n"

    status = ctl(served, "status", job_id, "--json")
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert (document["job_id"], document["name"], document["options"]) == (job_id, "cli link", "--foo")
    assert (document["status"], document["state"]) == ("CREATED", 1)
    assert document["device"]["name"] == DEVICE
    assert [m["name"] for m in document["models"]] == ["graph_a.dlc", "graph_b.dlc"]
    assert document["url"].endswith(f"/jobs/{job_id}/") and document["stale"] is False

    as_json = ctl(served, "link", str(models[0]), "-d", DEVICE, "--json")
    assert json.loads(as_json.stdout)["name"] == "graph_a.dlc"


def test_link_rejects_bad_models_before_sending_anything(served, hub_emulator, models, tmp_path):
    onnx = make_dlc(tmp_path / "model.onnx", b"onnx")
    hub_emulator.reset_counters()
    bad = ctl(served, "link", str(models[0]), str(onnx), "-d", DEVICE)
    _clean_failure(bad, ExitCode.USAGE)
    assert f"{onnx} is not a QNN DLC model (.dlc)" in bad.stderr
    assert hub_writes(hub_emulator) == []  # nothing reached the Hub (background polls only read)
    assert ctl(served, "link", str(models[0])).returncode == ExitCode.USAGE  # --device missing


def test_jobs_table_and_json(served, hub_emulator, lib, models):
    tag = f"jobs-{os.getpid()}"
    running = _submit(lib, models, name=f"{tag} running")
    finished = _submit(lib, models, name=f"{tag} finished")
    finish_job(hub_emulator, served, finished)

    listed = ctl(served, "jobs", "--json", "--name", tag)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert [job["job_id"] for job in document["jobs"]] == [finished, running] and document["total"] == 2
    assert [job["status"] for job in document["jobs"]] == ["SUCCESS", "CREATED"]

    table = ctl(served, "jobs", "--name", tag, "--state", "success", "--state", "CREATED")
    assert re.search(r"JOB\s+STATUS\s+CREATED\s+DEVICE\s+NAME", table.stdout)
    rows = {line.split()[0]: line.split()[1] for line in table.stdout.splitlines() if line.startswith("j")}
    assert rows == {running: "CREATED", finished: "SUCCESS"}

    first = ctl(served, "jobs", "--name", tag, "--limit", "1")
    assert finished in first.stdout and running not in first.stdout
    assert "showing 1 of 2 jobs" in first.stderr
    assert ctl(served, "jobs", "--state", "DONE").returncode == ExitCode.USAGE


# ---------------------------------------------------------------------------- wait and watch


def test_wait_shows_each_state_and_ends_with_the_final_status(served, hub_emulator, lib, models):
    job_id = _submit(lib, models)
    proc = started(served, "wait", job_id)
    assert proc.stderr is not None
    assert re.fullmatch(rf"\s*{ELAPSED}\s+CREATED\n", proc.stderr.readline())  # the stream is open
    _step(hub_emulator, served, job_id, api.JOB_STATE_LINKING_MODELS)
    assert re.fullmatch(rf"\s*{ELAPSED}\s+LINKING_MODELS\n", proc.stderr.readline())
    _step(hub_emulator, served, job_id, api.JOB_STATE_DONE)
    code, out, err = ended(proc)
    assert code == 0, err
    assert out == "SUCCESS\n"
    assert re.fullmatch(rf"\s*{ELAPSED}\s+SUCCESS\n", err)


def test_wait_of_a_failed_job_exits_1_and_json_parses(served, hub_emulator, lib, broken):
    job_id = _finished(lib, hub_emulator, served, broken, api.JOB_STATE_FAILED)
    done = ctl(served, "wait", job_id, "--json")
    assert done.returncode == ExitCode.JOB_FAILED, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "FAILED" and document["message"]
    assert f"aihubctl: job {job_id} FAILED: {document['message']}" in done.stderr


def test_wait_timeout_exits_4(served, lib, models):
    job_id = _submit(lib, models)
    done = ctl(served, "wait", job_id, "--timeout", "0.5")
    _clean_failure(done, ExitCode.ERROR)
    assert f"Waiting for link job ({job_id}) completion timed out after 0.5 seconds." in done.stderr


def test_watch_without_a_terminal_prints_one_line_per_change(served, hub_emulator, lib, models, broken):
    good, bad = _submit(lib, models, name="watch good"), _submit(lib, broken, name="watch bad")
    proc = started(served, "watch", good, bad)
    assert proc.stdout is not None
    # One line per job once its stream is open: no later change can be missed.
    assert {proc.stdout.readline(), proc.stdout.readline()} == {
        f"{good}  CREATED  watch good\n",
        f"{bad}  CREATED  watch bad\n",
    }
    _step(hub_emulator, served, good, api.JOB_STATE_LINKING_MODELS)
    assert proc.stdout.readline() == f"{good}  LINKING_MODELS  watch good\n"
    _step(hub_emulator, served, good, api.JOB_STATE_DONE)
    assert proc.stdout.readline() == f"{good}  SUCCESS  watch good\n"
    assert proc.poll() is None  # one job is still running
    _step(hub_emulator, served, bad, api.JOB_STATE_LINKING_MODELS)
    assert proc.stdout.readline() == f"{bad}  LINKING_MODELS  watch bad\n"
    _step(hub_emulator, served, bad, api.JOB_STATE_FAILED)
    code, out, err = ended(proc)
    assert code == ExitCode.JOB_FAILED, err
    assert re.fullmatch(rf"{bad}  FAILED  watch bad  \(.+\)\n", out)


def test_watch_json_lines(served, hub_emulator, lib, models):
    job_id = _submit(lib, models)
    proc = started(served, "watch", job_id, "--json")
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["status"] == "CREATED"
    _step(hub_emulator, served, job_id, api.JOB_STATE_LINKING_MODELS)
    change = json.loads(proc.stdout.readline())
    assert (change["job_id"], change["status"], change["state"]) == (job_id, "LINKING_MODELS", 100)
    _step(hub_emulator, served, job_id, api.JOB_STATE_DONE)
    code, out, err = ended(proc)
    assert code == 0, err
    assert json.loads(out) == {"job_id": job_id, "name": "graph_b.dlc", "status": "SUCCESS", "state": 10, "message": ""}


def _read_pty(fd: int, until: str, into: list[str]) -> None:
    """Collect what a pty shows until ``until`` appears in it (or the program closes it)."""
    while until not in "".join(into):
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready, f"nothing more on the terminal; so far: {''.join(into)!r}"
        try:
            data = os.read(fd, 4096)
        except OSError:  # the other end is closed
            return
        if not data:
            return
        into.append(data.decode(errors="replace"))


def test_wait_on_a_terminal_shows_a_live_line_with_the_elapsed_time(served, hub_emulator, lib, models):
    job_id = _submit(lib, models)
    main, secondary = pty.openpty()
    proc = popen(
        [str(AIHUBCTL), "wait", job_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
        env=_env(served.socket, TERM="xterm"),
    )
    os.close(secondary)
    shown: list[str] = []
    try:
        _read_pty(main, "CREATED", shown)
        finish_job(hub_emulator, served, job_id)
        out, _ = proc.communicate(timeout=60)
        _read_pty(main, "\x00never", shown)
    finally:
        os.close(main)
    raw = "".join(shown)
    assert "\x1b[2K" in raw  # the line is redrawn in place, not printed once per change
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert proc.returncode == 0 and out == "SUCCESS\n"
    assert re.search(rf"CREATED\s+{ELAPSED}\s+job {job_id}", screen)
    assert re.search(rf"SUCCESS\s+{ELAPSED}\s+job {job_id}", screen)


# ---------------------------------------------------------------------------- name, share, track


def test_name_changes_what_every_client_sees(served, lib, models):
    job_id = _submit(lib, models)
    done = ctl(served, "name", job_id, "renamed by the cli", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "renamed by the cli"
    assert lib.get_job(job_id).name == "renamed by the cli"


def test_share_adds_removes_and_disables(served, hub_emulator, lib, models):
    config = hub.ClientConfig(
        api_token=OTHER_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url + "/", verbose=False
    )
    email = hub.public_rest_api.get_auth_user(config).email  # the Hub knows them from now on
    job_id = _submit(lib, models)
    added = ctl(served, "share", job_id, "--add", email)
    assert added.returncode == 0 and added.stdout == f"{email}\n", added.stderr
    removed = ctl(served, "share", job_id, "--remove", email, "--json")
    assert removed.returncode == 0 and json.loads(removed.stdout) == []
    lib.get_job(job_id).modify_sharing([email])
    listed = ctl(served, "share", job_id, "--json")
    assert json.loads(listed.stdout) == [email]
    disabled = ctl(served, "share", job_id, "--disable")
    assert disabled.returncode == 0 and disabled.stdout == ""
    assert lib.get_job(job_id).get_sharing() == []

    both = ctl(served, "share", job_id, "--disable", "--add", email)
    assert both.returncode == ExitCode.USAGE and "--disable cannot be combined" in both.stderr
    _clean_failure(ctl(served, "share", job_id, "--add", "not-an-email"), ExitCode.USAGE)


def test_track_and_untrack_a_job_from_the_official_client(served, hub_emulator, models):
    official = hub.Client(
        config=hub.ClientConfig(
            api_token=TEST_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url + "/", verbose=False
        )
    )
    theirs = official.submit_link_job([str(p) for p in models], hub.Device(DEVICE), name="official cli")
    tracked = ctl(served, "track", theirs.job_id, "--json")
    assert tracked.returncode == 0, tracked.stderr
    document = json.loads(tracked.stdout)
    assert (document["job_id"], document["name"], document["status"]) == (theirs.job_id, "official cli", "CREATED")
    untracked = ctl(served, "untrack", theirs.job_id)
    assert untracked.returncode == 0 and untracked.stderr == ""
    again = ctl(served, "untrack", theirs.job_id)
    assert again.returncode == 0 and "was not tracked" in again.stderr
    assert json.loads(ctl(served, "jobs", "--json", "--name", "official cli").stdout)["jobs"] == []


# ---------------------------------------------------------------------------- artifacts, downloads


def test_artifacts_download_and_results(served, hub_emulator, lib, models, tmp_path):
    job_id = _finished(lib, hub_emulator, served, models)
    target = f"job_{job_id}_optimized_bin.bin"

    kinds = ctl(served, "artifacts", job_id, "--json")
    assert kinds.returncode == 0 and json.loads(kinds.stdout) == ["DEVICE_LOG", "HUB_LOG"]

    done = ctl(served, "download", job_id, "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(tmp_path / "out" / target),  # absolute, like the logs
        str(tmp_path / "out" / f"{job_id}_device.log"),
        str(tmp_path / "out" / f"{job_id}_hub.log"),
    ]
    model = (tmp_path / "out" / target).read_bytes()

    logs = json.loads(ctl(served, "download", job_id, str(tmp_path / "logs"), "--logs", "--json").stdout)
    assert logs == {
        "job_id": job_id,
        "status": "SUCCESS",
        "paths": [str(tmp_path / "logs" / f"{job_id}_device.log"), str(tmp_path / "logs" / f"{job_id}_hub.log")],
    }
    typed = ctl(
        served, "download", job_id, str(tmp_path / "t"), "--type", "PROFILE_TRACE", "--type", "hub_log", "--json"
    )
    assert json.loads(typed.stdout)["paths"] == [str(tmp_path / "t" / f"{job_id}_hub.log")]  # none for the trace

    # The stream path (what a terminal gets) with its progress bar forced on: same bytes, same naming.
    streamed = ctl(served, "download", job_id, str(tmp_path / "out"), "--progress")
    assert streamed.returncode == 0, streamed.stderr
    path = Path(streamed.stdout.splitlines()[0])
    assert path.parent == tmp_path / "out" and re.fullmatch(rf"job_{job_id}_optimized_bin_[\d.]+\.bin", path.name)
    assert path.read_bytes() == model
    assert target in streamed.stderr  # the progress bar names the file

    results = ctl(served, "results", job_id, str(tmp_path / "results"), "--json")
    assert results.returncode == 0, results.stderr
    document = json.loads(results.stdout)
    assert document["status"] == "SUCCESS" and document["artifacts_dir"] == str(tmp_path / "results")
    assert document["url"].endswith(f"/jobs/{job_id}/")
    assert sorted(os.listdir(tmp_path / "results")) == sorted([target, f"{job_id}_device.log", f"{job_id}_hub.log"])


def test_download_of_a_failed_job_saves_logs_and_exits_1(served, hub_emulator, lib, broken, tmp_path):
    job_id = _finished(lib, hub_emulator, served, broken, api.JOB_STATE_FAILED)
    done = ctl(served, "download", job_id, str(tmp_path / "out"))
    assert done.returncode == ExitCode.JOB_FAILED
    assert done.stdout.splitlines() == [
        str(tmp_path / "out" / f"{job_id}_device.log"),
        str(tmp_path / "out" / f"{job_id}_hub.log"),
    ]
    assert "FAILED" in done.stderr
    results = ctl(served, "results", job_id, str(tmp_path / "results"), "--json")
    assert results.returncode == ExitCode.JOB_FAILED
    assert json.loads(results.stdout)["status"] == "FAILED"


def test_download_waits_for_the_job(served, hub_emulator, lib, models, tmp_path):
    job_id = _submit(lib, models)
    proc = started(served, "download", job_id, str(tmp_path), "--json")
    assert proc.stderr is not None
    assert proc.stderr.readline().split()[-1] == "CREATED"
    finish_job(hub_emulator, served, job_id)
    code, out, err = ended(proc)
    assert code == 0, err
    assert [Path(p).name for p in json.loads(out)["paths"]] == [
        f"job_{job_id}_optimized_bin.bin",
        f"{job_id}_device.log",
        f"{job_id}_hub.log",
    ]


# ---------------------------------------------------------------------------- the daemon, exit codes


def test_daemon_status(served, hub_emulator, lib, models):
    config = hub.ClientConfig(
        api_token=TEST_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url + "/", verbose=False
    )
    job_id = _finished(lib, hub_emulator, served, models)
    assert lib.get_job(job_id).download_target_model()  # something in the daemon's cache
    tracked = lib.list_jobs(limit=1000)
    in_flight = sum(not job.last_status.finished for job in tracked.jobs)

    done = ctl(served, "daemon", "status", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["version"] and info["hub_reachable"] is True and info["hub_error"] == ""
    assert info["account_email"] == hub.public_rest_api.get_auth_user(config).email
    assert (info["tracked_jobs"], info["in_flight_jobs"]) == (tracked.total, in_flight)
    assert info["cache_bytes"] > 0
    human = ctl(served, "daemon", "status")
    assert re.search(r"^reachable\s+yes$", human.stdout, re.MULTILINE)
    assert re.search(rf"^account\s+{re.escape(info['account_email'])}$", human.stdout, re.MULTILINE)
    assert re.search(rf"^tracked jobs\s+{tracked.total}$", human.stdout, re.MULTILINE)
    assert re.search(rf"^in flight\s+{in_flight}$", human.stdout, re.MULTILINE)
    assert re.search(r"^cache\s+\d+(\.\d)? (B|KiB|MiB)$", human.stdout, re.MULTILINE)


def test_exit_codes_tell_usage_from_unreachable(served, tmp_path):
    unknown = ctl(served, "status", "jnosuchjob")
    _clean_failure(unknown, ExitCode.USAGE)
    env = clean_env(AIHUBD_SOCKET=str(tmp_path / "absent.sock"), NO_COLOR="1")
    away = run([str(AIHUBCTL), "jobs"], capture_output=True, text=True, env=env, timeout=60, check=False)
    _clean_failure(away, ExitCode.DAEMON_UNREACHABLE)
    assert "aihubd serve" in away.stderr
    helped = ctl(served, "--help")
    assert helped.returncode == 0
    for code in ExitCode:
        assert re.search(rf"^\s+{int(code)}\s+\S", helped.stdout, re.MULTILINE)


# ---------------------------------------------------------------------------- watch on the job feed


def test_watch_of_every_job_shows_one_submitted_after_it_started_and_waits_for_it(served, hub_emulator, lib, models):
    """The reported bug: a job submitted one second after `watch` started was never shown, and
    `watch` exited while it ran. On WatchJobs the new job appears and `watch` waits for it."""
    tag = "feed-every-job"
    first = _submit(lib, models, name=f"{tag} one")
    proc = started(served, "watch", "--name", tag)
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"{first}  CREATED  {tag} one\n"  # listed: the watch is live
    second = _submit(lib, models, name=f"{tag} two")
    assert proc.stdout.readline() == f"{second}  CREATED  {tag} two\n"
    _step(hub_emulator, served, first, api.JOB_STATE_LINKING_MODELS)
    assert proc.stdout.readline() == f"{first}  LINKING_MODELS  {tag} one\n"
    _step(hub_emulator, served, first, api.JOB_STATE_DONE)
    assert proc.stdout.readline() == f"{first}  SUCCESS  {tag} one\n"
    assert proc.poll() is None  # the second job still runs
    _step(hub_emulator, served, second, api.JOB_STATE_LINKING_MODELS)
    assert proc.stdout.readline() == f"{second}  LINKING_MODELS  {tag} two\n"
    _step(hub_emulator, served, second, api.JOB_STATE_DONE)
    code, out, err = ended(proc)
    assert code == 0, err
    assert out == f"{second}  SUCCESS  {tag} two\n"

    # `jobs` shows the finished ones too, with --state, --name, --since; --refresh asks the Hub first.
    listed = ctl(served, "jobs", "--state", "SUCCESS", "--name", tag, "--since", "1h", "--refresh", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(j["job_id"] for j in json.loads(listed.stdout)["jobs"]) == sorted([first, second])
    later = ctl(served, "jobs", "--name", tag, "--since", "2999-01-01")
    assert later.returncode == 0 and "no jobs" in later.stderr
    bad = ctl(served, "jobs", "--since", "yesterday-ish")
    assert bad.returncode == ExitCode.USAGE
    assert "'yesterday-ish' is neither a duration" in bad.stderr


def test_watch_json_filters_by_state(served, hub_emulator, lib, models):
    """--state: only jobs in that state are listed; one leaving it is shown once more."""
    tag = "feed-state-filter"
    running = _submit(lib, models, name=f"{tag} running")
    _step(hub_emulator, served, running, api.JOB_STATE_LINKING_MODELS)
    _submit(lib, models, name=f"{tag} created")  # CREATED: not watched
    proc = started(served, "watch", "--state", "LINKING_MODELS", "--name", tag, "--json")
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["job_id"] == running
    _step(hub_emulator, served, running, api.JOB_STATE_DONE)
    code, out, err = ended(proc)
    assert code == 0, err
    assert [(e["job_id"], e["status"]) for e in map(json.loads, out.splitlines())] == [(running, "SUCCESS")]


def test_watch_follow_keeps_running_and_says_reconnecting_across_a_restart(tmp_path, emulator, models):
    daemon = start_hub_daemon(tmp_path, emulator)
    proc: subprocess.Popen[str] | None = None
    try:
        with Client(daemon.socket) as client:
            first = _submit(client, models, name="followed")
        proc = started(daemon, "watch", "--follow")
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == f"{first}  CREATED  followed\n"
        finish_job(emulator, daemon, first)
        assert proc.stdout.readline() == f"{first}  LINKING_MODELS  followed\n"
        assert proc.stdout.readline() == f"{first}  SUCCESS  followed\n"
        assert proc.poll() is None  # --follow: every job finished, still watching
        daemon.stop()
        assert proc.stderr.readline().startswith("reconnecting…")
        daemon = start_hub_daemon(tmp_path, emulator)
        with Client(daemon.socket) as client:
            second = _submit(client, models, name="after the restart")
        assert proc.stdout.readline() == f"{second}  CREATED  after the restart\n"  # resumed, nothing repeated
        assert proc.poll() is None
    finally:
        if proc is not None:
            proc.kill()
            proc.communicate(timeout=30)
        daemon.stop()
