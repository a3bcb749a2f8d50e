"""aihubctl's commands beyond submit/wait/download, through click's CliRunner and the fake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from client_fakes import CHUNKS, FAILURE_REASON, TARGET_FILENAME

import aihubd_client.cli_app as cli_app
from aihubd_client.cli import cli
from aihubd_client.exit_codes import ExitCode


@pytest.fixture
def run(socket_path: Path):
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--socket", str(socket_path), *args], catch_exceptions=False)

    return invoke


def test_link_and_wait_json(run, workdir):
    linked = run("link", "a.dlc", "-d", "Dev", "--wait", "--json")
    assert linked.exit_code == 0, linked.output
    document = json.loads(linked.stdout)
    assert (document["job_id"], document["status"]) == ("jnew", "SUCCESS")
    waited = run("wait", "jfailed", "--json")
    assert waited.exit_code == ExitCode.JOB_FAILED
    assert json.loads(waited.stdout)["message"] == FAILURE_REASON


def test_link_refuses_a_non_dlc_without_calling(run, fake, workdir):
    result = run("link", "a.onnx", "-d", "Dev")
    assert result.exit_code == ExitCode.USAGE
    assert "a.onnx is not a QNN DLC model (.dlc)" in result.stderr
    assert fake.requests == []


def test_watch_prints_each_change_and_exits_1_when_a_job_failed(run):
    result = run("watch", "jsuccess", "jfailed", "jdone")
    assert result.exit_code == ExitCode.JOB_FAILED, result.output
    lines = result.stdout.splitlines()
    # The feed's listing first (one line per job), then each change as it comes.
    assert lines[:3] == ["jsuccess  CREATED  b.dlc", "jfailed  CREATED  b.dlc", "jdone  SUCCESS  b.dlc"]
    for job_id, codes in (
        ("jsuccess", ["CREATED", "LINKING_MODELS", "SUCCESS"]),
        ("jfailed", ["CREATED", "LINKING_MODELS", "FAILED"]),
    ):
        assert [line.split()[1] for line in lines if line.startswith(job_id)] == codes
    assert f"jfailed  FAILED  b.dlc  ({FAILURE_REASON})" in lines


def test_watch_json_lines_and_all_tracked_jobs(run, fake):
    for job_id in ("jhang", "jstop", "jback", "jfailed"):
        del fake.jobs[job_id]  # watch every tracked job: jsuccess and jdone
    result = run("watch", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["job_id"], e["status"]) for e in events] == [
        ("jsuccess", "CREATED"),
        ("jdone", "SUCCESS"),
        ("jsuccess", "LINKING_MODELS"),
        ("jsuccess", "SUCCESS"),
    ]


def test_watch_on_a_terminal_draws_a_table(run, monkeypatch):
    monkeypatch.setattr(cli_app, "is_terminal", lambda stream: True)
    result = run("watch", "jsuccess")
    assert result.exit_code == 0, result.output
    assert re.search(r"JOB\s+STATUS\s+AGE\s+NAME", result.stdout)
    assert re.search(r"jsuccess\s+SUCCESS\s+\S+\s+b\.dlc", result.stdout)
    assert "all 1 finished" in result.stdout


def test_wait_on_a_terminal_shows_a_status_line(run, monkeypatch):
    monkeypatch.setattr(cli_app, "is_terminal", lambda stream: True)
    result = run("wait", "jsuccess")
    assert result.exit_code == 0 and result.stdout == "SUCCESS\n"
    assert re.search(r"SUCCESS\s+\d+\.\ds\s+job jsuccess", result.stderr)


def test_name(run, fake):
    result = run("name", "jdone", "new name")
    assert result.exit_code == 0 and result.stdout == ""
    assert fake.jobs["jdone"].message.name == "new name"
    assert json.loads(run("name", "jdone", "x", "--json").stdout)["name"] == "x"


def test_share(run, fake):
    assert run("share", "jdone").stdout == ""
    assert run("share", "jdone", "--add", "a@x.com", "--add", "b@x.com").stdout == "a@x.com\nb@x.com\n"
    assert json.loads(run("share", "jdone", "--remove", "a@x.com", "--json").stdout) == ["b@x.com"]
    assert run("share", "jdone", "--disable").stdout == ""
    assert fake.requests_of("DisableSharing")
    mixed = run("share", "jdone", "--disable", "--remove", "b@x.com")
    assert mixed.exit_code == ExitCode.USAGE and "cannot be combined" in mixed.stderr
    bad = run("share", "jdone", "--add", "nope")
    assert bad.exit_code == ExitCode.USAGE and "'nope' is not an email address." in bad.stderr


def test_artifacts(run):
    assert run("artifacts", "jsuccess").stdout == "DEVICE_LOG\nHUB_LOG\n"
    assert json.loads(run("artifacts", "jdone", "--json").stdout) == ["DEVICE_LOG", "HUB_LOG"]


def test_download_variants(run, workdir):
    logs = json.loads(run("download", "jdone", "d1", "--logs", "--json").stdout)
    assert [Path(p).name for p in logs["paths"]] == ["jdone_device.log", "jdone_hub.log"]
    typed = run("download", "jdone", "d2", "--type", "hub_log", "--type", "PROFILE_TRACE")
    assert typed.stdout == f"{workdir / 'd2' / 'jdone_artifact_type_hub_log.txt'}\n"
    both = run("download", "jdone", "d3", "--logs", "--type", "HUB_LOG")
    assert len(both.stdout.splitlines()) == 3
    assert run("download", "jdone", "d4", "--type", "NETRON").exit_code == ExitCode.USAGE


def test_download_stream_path_with_a_progress_bar(run, fake, workdir):
    (workdir / "dl").mkdir()
    (workdir / "dl" / TARGET_FILENAME).write_bytes(b"taken")
    result = run("download", "jdone", "dl", "--progress")
    assert result.exit_code == 0, result.output
    model, _device_log, _hub_log = result.stdout.splitlines()
    assert re.fullmatch(
        re.escape(str(workdir / "dl")) + r"/job_target_\d\d\.\d\d\.\d\d\.\d{6}\.bin", model
    )  # uniquified, like qai_hub
    assert Path(model).read_bytes() == b"".join(CHUNKS)
    assert TARGET_FILENAME in result.stderr  # the bar, forced on
    assert fake.requests_of("ReadTargetModel") and not fake.requests_of("DownloadTargetModel")


def test_results(run, workdir):
    done = run("results", "jsuccess", "r", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert (document["status"], document["artifacts_dir"]) == ("SUCCESS", str(workdir / "r"))
    human = run("results", "jfailed", "r2")
    assert human.exit_code == ExitCode.JOB_FAILED
    assert re.search(r"^status\s+FAILED$", human.stdout, re.MULTILINE)


def test_info_is_daemon_status(run):
    assert json.loads(run("info", "--json").stdout) == json.loads(run("daemon", "status", "--json").stdout)
    assert "info" not in run("--help").stdout.split("Commands:")[1].split()


@pytest.mark.timeout(60)
def test_ctrl_c_stops_watching_and_leaves_the_jobs_alone(run, fake):
    import _thread

    fake.on_hang = _thread.interrupt_main
    result = run("watch", "jhang")
    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert "aihubctl: interrupted" in result.stderr
    assert fake.wait_ended.wait(20)  # the stream was cancelled
    assert fake.jobs["jhang"].message.state == 1  # still CREATED


def test_link_download_json_lists_the_files(run, workdir):
    result = run("link", "a.dlc", "-d", "Dev", "--download", "out", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCESS"
    assert [Path(p).name for p in document["downloaded"]] == [TARGET_FILENAME, "jnew_device.log", "jnew_hub.log"]


def test_watch_without_a_daemon_exits_3(tmp_path):
    result = CliRunner().invoke(cli, ["--socket", str(tmp_path / "none.sock"), "watch"])
    assert result.exit_code == ExitCode.DAEMON_UNREACHABLE
    assert result.stderr.startswith("aihubctl: error: ") and "aihubd serve" in result.stderr


@pytest.mark.parametrize("command", [("link", "a.dlc", "-d", "Dev", "--download", "dl"), ("download", "jdone", "dl")])
def test_on_a_terminal_the_target_model_is_still_the_daemons_delivery(run, fake, workdir, monkeypatch, command):
    """link --wait --download and download deliver alike (the daemon's hardlink or copy); only
    --progress streams a private copy."""
    monkeypatch.setattr(cli_app, "is_terminal", lambda stream: True)
    result = run(*command)
    assert result.exit_code == 0, result.output
    assert fake.requests_of("DownloadTargetModel") and not fake.requests_of("ReadTargetModel")


def test_completion_scripts_and_dynamic_job_ids(run, socket_path, monkeypatch):
    for shell in ("bash", "zsh", "fish"):
        script = run("completion", shell)
        assert script.exit_code == 0 and "_AIHUBCTL_COMPLETE" in script.stdout
    monkeypatch.setenv("_AIHUBCTL_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", f"aihubctl --socket {socket_path} status js")
    monkeypatch.setenv("COMP_CWORD", "4")
    completed = CliRunner().invoke(cli, [], prog_name="aihubctl")
    assert "plain,jsuccess" in completed.stdout.splitlines()
    assert all(line.split(",", 1)[1].startswith("js") for line in completed.stdout.splitlines())
