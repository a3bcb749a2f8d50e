"""aihubctl through click's CliRunner against the fake daemon on a real Unix socket."""

from __future__ import annotations

import _thread
import json
import re
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result
from client_fakes import CHUNKS, FAILURE_REASON, TARGET_FILENAME

from aihubd_client.cli import cli
from aihubd_client.exit_codes import ExitCode

ELAPSED = r"\d+\.\ds"


@pytest.fixture
def run(socket_path: Path):
    """Run aihubctl with --socket pointing at the fake daemon."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        args = ("--socket", str(socket_path), *args)
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)

    return invoke


def assert_clean_error(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("aihubctl: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


# link


def test_link_prints_only_the_job_id_on_stdout(run, fake, workdir):
    result = run("link", "a.dlc", "b.dlc", "--device", "Dev X", "--name", "n1", "--options", "--foo")
    assert result.exit_code == 0, result.output
    assert result.stdout == "jnew\n"
    (request,) = fake.requests_of("SubmitLinkJob")
    assert [m.path for m in request.models] == [str(workdir / "a.dlc"), str(workdir / "b.dlc")]
    assert (request.name, request.options) == ("n1", "--foo")
    assert fake.requests_of("WatchJobs") == []


def test_link_wait_shows_each_state_with_elapsed_time_on_stderr(run, workdir):
    result = run("link", "a.dlc", "b.dlc", "-d", "Dev", "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout == "jnew\n"
    submitted, *lines = result.stderr.strip().splitlines()
    assert submitted == "aihubctl: submitted https://workbench.example/jobs/jnew/"
    assert [line.split()[-1] for line in lines] == ["CREATED", "LINKING_MODELS", "SUCCESS"]
    assert all(re.fullmatch(rf"\s*{ELAPSED}\s+\w+", line) for line in lines)


def test_link_wait_of_a_failing_job_exits_1_with_the_reason(run, fake, workdir):
    fake.submit_changes = [(30, FAILURE_REASON)]
    result = run("link", "a.dlc", "-d", "Dev", "--wait")
    assert result.exit_code == ExitCode.JOB_FAILED == 1
    assert result.stdout == "jnew\n"
    assert f"aihubctl: job jnew FAILED: {FAILURE_REASON}" in result.stderr


def test_link_download_waits_then_prints_model_and_log_paths(run, workdir):
    result = run("link", "a.dlc", "-d", "Dev", "--download", "results")
    assert result.exit_code == 0, result.output
    job_id, model, device_log, hub_log = result.stdout.splitlines()
    assert job_id == "jnew"
    assert model == str(workdir / "results" / TARGET_FILENAME)  # absolute, like the log paths
    assert Path(model).read_bytes() == b"".join(CHUNKS)
    assert device_log == str(workdir / "results" / "jnew_device.log")
    assert Path(hub_log).is_file()
    assert "SUCCESS" in result.stderr


def test_link_with_a_bad_model_is_a_usage_error(run, fake, workdir):
    fake.fail = (grpc.StatusCode.INVALID_ARGUMENT, "Input model must be a QNN DLC model.")
    result = run("link", "a.onnx", "-d", "Dev")
    assert_clean_error(result, ExitCode.USAGE)
    assert "a.onnx is not a QNN DLC model (.dlc)" in result.stderr


def test_link_without_device_is_clicks_usage_error(run):
    result = run("link", "a.dlc")
    assert result.exit_code == 2
    assert "--device" in result.stderr


# status


def test_status_json_parses_back(run):
    result = run("status", "jfailed", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["job_id"] == "jfailed"
    assert document["status"] == "CREATED" and document["state"] == 1
    assert document["device"]["name"] == "Snapdragon 8 Elite QRD"
    assert [m["model_id"] for m in document["models"]] == ["mfd036f75", "m26bc5548"]
    assert document["url"].endswith("/jobs/jfailed/")
    assert document["target_model_id"] is None and document["stale"] is False


def test_status_human_view_and_refresh(run, fake):
    result = run("status", "jdone", "--refresh")
    assert result.exit_code == 0, result.output
    assert re.search(r"^job\s+jdone$", result.stdout, re.MULTILINE)
    assert re.search(r"^status\s+SUCCESS$", result.stdout, re.MULTILINE)
    assert len(fake.requests_of("RefreshJobs")) == 1


def test_status_of_unknown_job_exits_2(run):
    result = run("status", "nope")
    assert_clean_error(result, ExitCode.USAGE)
    assert "'nope' could not be found" in result.stderr


# wait


def test_wait_prints_changes_then_the_final_status(run):
    result = run("wait", "jsuccess")
    assert result.exit_code == 0, result.output
    assert result.stdout == "SUCCESS\n"
    codes = [line.split()[-1] for line in result.stderr.strip().splitlines()]
    assert codes == ["CREATED", "LINKING_MODELS", "SUCCESS"]


def test_wait_of_a_failed_job_exits_1(run):
    result = run("wait", "jfailed")
    assert result.exit_code == 1
    assert result.stdout == "FAILED\n"
    assert FAILURE_REASON in result.stderr


@pytest.mark.timeout(30)
def test_wait_timeout_exits_4(run):
    result = run("wait", "jhang", "--timeout", "0.3")
    assert result.exit_code == ExitCode.ERROR == 4
    expected = "aihubctl: error: Waiting for link job (jhang) completion timed out after 0.3 seconds."
    assert expected in result.stderr


@pytest.mark.timeout(30)
def test_ctrl_c_exits_130(run, fake):
    fake.on_hang = _thread.interrupt_main
    result = run("wait", "jhang")
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    assert "aihubctl: interrupted" in result.stderr
    assert fake.wait_ended.wait(20)


# download


def test_download_prints_each_path(run, workdir):
    result = run("download", "jsuccess", "dl")
    assert result.exit_code == 0, result.output
    model, device_log, hub_log = result.stdout.splitlines()
    assert model == str(workdir / "dl" / TARGET_FILENAME)  # absolute, like the log paths
    assert Path(model).read_bytes() == b"".join(CHUNKS)
    assert device_log == str(workdir / "dl" / "jsuccess_device.log")
    assert hub_log == str(workdir / "dl" / "jsuccess_hub.log")


def test_download_of_a_failed_job_gets_logs_and_exits_1(run, workdir):
    result = run("download", "jfailed", "dl")
    assert result.exit_code == 1
    logs = [str(workdir / "dl" / "jfailed_device.log"), str(workdir / "dl" / "jfailed_hub.log")]
    assert result.stdout.splitlines() == logs
    assert "FAILED" in result.stderr


# daemon and errors


def test_unreachable_daemon_exits_3(tmp_path):
    missing = tmp_path / "no.sock"
    result = CliRunner().invoke(cli, ["--socket", str(missing), "status", "j1"])
    assert_clean_error(result, ExitCode.DAEMON_UNREACHABLE)
    assert str(missing) in result.stderr and "aihubd serve" in result.stderr


def test_hub_unavailable_exits_4(run, fake):
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "Qualcomm AI Hub is unreachable")
    result = run("status", "jdone")
    assert_clean_error(result, ExitCode.ERROR)
    assert "Qualcomm AI Hub is unreachable" in result.stderr


def test_daemon_status_json_and_human(run):
    result = run("daemon", "status", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["hub_kind"] == "emulator" and document["hub_reachable"] is True
    assert document["cache_bytes"] == 1536
    human = run("daemon", "status")
    assert re.search(r"^cache\s+1\.5 KiB$", human.stdout, re.MULTILINE)
    assert re.search(r"^account\s+dev@example\.com$", human.stdout, re.MULTILINE)


def test_jobs_track_untrack(run, fake):
    listed = run("jobs", "--state", "success", "--json")
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert [job["job_id"] for job in document["jobs"]] == ["jdone"] and document["total"] == 1
    human = run("jobs", "--limit", "2", "--offset", "1")
    header, _rule, *rows = human.stdout.splitlines()
    assert header.split() == ["JOB", "STATUS", "CREATED", "DEVICE", "NAME"]
    assert [row.split()[:2] for row in rows] == [["jdone", "SUCCESS"], ["jfailed", "CREATED"]]
    assert all(row.split()[-2:] == ["QRD", "b.dlc"] for row in rows)
    assert "showing 2 of 6 jobs" in human.stderr
    assert run("list", "--limit", "2").stdout.splitlines()[2].startswith("jback")  # the old name
    assert run("track", "jother").stdout == "CREATED\n"
    assert json.loads(run("track", "jother", "--json").stdout)["job_id"] == "jother"
    assert run("untrack", "jother").stderr == ""
    assert "was not tracked" in run("untrack", "jother").stderr
    assert run("jobs", "--state", "DONE").exit_code == 2


def test_help_lists_the_exit_codes(run):
    result = run("--help")
    assert result.exit_code == 0
    for code in ExitCode:
        assert re.search(rf"^\s+{int(code)}\s+\S", result.stdout, re.MULTILINE)


def test_no_color_is_respected_even_when_color_is_forced(run):
    forced = run("wait", "jfailed", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stderr  # the check below is meaningful
    plain = run("wait", "jfailed", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*;3[0-7]", plain.stderr)
    assert plain.stdout == "FAILED\n"


@pytest.mark.timeout(30)
def test_ctrl_c_during_link_wait_says_how_to_resume(run, fake, workdir):
    fake.submit_hang = True
    fake.submit_changes = []
    fake.on_hang = _thread.interrupt_main
    result = run("link", "a.dlc", "-d", "Dev", "--wait")
    assert result.exit_code == 130
    assert result.stdout == "jnew\n"
    assert "job jnew keeps running; resume with: aihubctl wait jnew" in result.stderr


def test_wait_rides_out_a_daemon_restart(run, fake):
    result = run("wait", "jback")
    assert result.exit_code == 0, result.output
    assert result.stdout == "SUCCESS\n"
    assert [line.split()[-1] for line in result.stderr.splitlines()] == ["LINKING_MODELS", "SUCCESS"]
    assert len(fake.requests_of("WatchJobs")) == 2
