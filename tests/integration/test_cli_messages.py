"""Each error message of issue 13's list, through the real ``aihubctl`` against a real daemon
and the emulator: the text a person reads and the exit code a script sees."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub
from child_procs import run
from e2e_support import TEST_TOKEN, Daemon, clean_env, finish_job, make_dlc

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client import Client, LinkJob
from aihubd_client.exit_codes import ExitCode

DEVICE = "Snapdragon 8 Elite QRD"
OTHER_TOKEN = "test-token-cli-messages-other"
AIHUBCTL = Path(sys.executable).with_name("aihubctl")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("msg-models")
    return make_dlc(base / "graph_a.dlc", b"a" * 2048), make_dlc(base / "graph_b.dlc", b"b" * 2048)


@pytest.fixture(scope="module")
def lib(served: Daemon) -> Iterator[Client]:
    with Client(served.socket) as client:
        yield client


def ctl(daemon: Daemon, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env(AIHUBD_SOCKET=str(daemon.socket), NO_COLOR="1")
    return run([str(AIHUBCTL), *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd, check=False)


def _error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The last stderr line, once the exit code is the documented one and nothing crashed."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def _finished(lib: Client, hub_emulator, served: Daemon, models, final: int = api.JOB_STATE_DONE) -> str:
    job = lib.submit_link_job(list(models), DEVICE)
    assert isinstance(job, LinkJob)
    finish_job(hub_emulator, served, job.job_id, final)
    return job.job_id


def test_an_unknown_model_id_names_the_model(served, models):
    result = ctl(served, "link", str(models[0]), "mnotexist1", "-d", DEVICE)
    line = _error(result, ExitCode.USAGE)
    assert "model mnotexist1 was not found on the Hub" in line
    assert "/api/v1/jobs/" not in line


def test_a_non_dlc_names_the_path_and_a_directory_says_so(served, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "in" / "folder.dlc").mkdir()
    onnx = ctl(served, "link", "in/model.onnx", "-d", DEVICE, cwd=tmp_path)
    assert _error(onnx, ExitCode.USAGE) == "aihubctl: error: in/model.onnx is not a QNN DLC model (.dlc)"
    folder = ctl(served, "link", "in/folder.dlc", "-d", DEVICE, cwd=tmp_path)
    assert _error(folder, ExitCode.USAGE) == "aihubctl: error: in/folder.dlc is a directory, not a QNN DLC model (.dlc)"


def test_download_below_a_file_is_a_clear_usage_error(served, hub_emulator, lib, models, tmp_path):
    job_id = _finished(lib, hub_emulator, served, models)
    (tmp_path / "afile").write_bytes(b"a file")
    result = ctl(served, "download", job_id, "afile/sub", cwd=tmp_path)
    line = _error(result, ExitCode.USAGE)
    assert line == f"aihubctl: error: cannot write {tmp_path}/afile/sub: {tmp_path}/afile is a file, not a directory"


def test_download_of_a_type_the_job_lacks_says_so_and_exits_1(served, hub_emulator, lib, models, tmp_path):
    job_id = _finished(lib, hub_emulator, served, models)
    result = ctl(served, "download", job_id, "out", "--type", "PROFILE_TRACE", cwd=tmp_path)
    assert result.returncode == ExitCode.JOB_FAILED, result.stderr
    assert result.stdout == ""
    assert f"job {job_id} has no PROFILE_TRACE artifacts (it offers: DEVICE_LOG, HUB_LOG)" in result.stderr
    assert lib.get_job(job_id).download_artifacts_for_type(tmp_path / "lib", "PROFILE_TRACE") == []  # library: []


def test_share_says_not_shared_and_confirms_changes(served, hub_emulator, lib, models):
    config = hub.ClientConfig(api_token=OTHER_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url)
    email = hub.public_rest_api.get_auth_user(config).email
    job_id = lib.submit_link_job(list(models), DEVICE).job_id
    shown = ctl(served, "share", job_id)
    assert (shown.returncode, shown.stdout) == (0, "")
    assert shown.stderr.strip() == f"aihubctl: job {job_id} is not shared"
    added = ctl(served, "share", job_id, "--add", email)
    assert added.returncode == 0 and added.stdout == f"{email}\n"
    assert f"job {job_id} is now shared with {email}" in added.stderr
    removed = ctl(served, "share", job_id, "--remove", email)
    assert removed.returncode == 0
    assert f"job {job_id} is no longer shared with {email}" in removed.stderr
    disabled = ctl(served, "share", job_id, "--disable")
    assert disabled.returncode == 0
    assert f"job {job_id} is no longer shared with anyone" in disabled.stderr


def test_status_of_an_untracked_job_asks_the_hub_without_tracking_it(served, hub_emulator, models):
    official = hub.Client(
        config=hub.ClientConfig(api_token=TEST_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url)
    )
    job_id = official.submit_link_job([official.upload_model(str(m)) for m in models], hub.Device(DEVICE)).job_id
    shown = ctl(served, "status", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["job_id"] == job_id
    listed = json.loads(ctl(served, "jobs", "--json", "--limit", "1000").stdout)
    assert job_id not in [job["job_id"] for job in listed["jobs"]]  # still not tracked
    assert "without tracking it" in " ".join(ctl(served, "status", "--help").stdout.split())


def test_status_of_a_failed_job_exits_1_like_wait(served, hub_emulator, lib, broken):
    job = lib.submit_link_job(list(broken), DEVICE)
    finish_job(hub_emulator, served, job.job_id, api.JOB_STATE_FAILED)
    status = ctl(served, "status", job.job_id)
    waited = ctl(served, "wait", job.job_id)
    assert status.returncode == waited.returncode == ExitCode.JOB_FAILED
    assert f"job {job.job_id} FAILED" in status.stderr


def test_state_choices_are_the_states_of_a_link_job(served):
    helped = " ".join(ctl(served, "jobs", "--help").stdout.split())
    assert "CREATED, LINKING_MODELS, SUCCESS or FAILED" in helped
    assert ctl(served, "jobs", "--state", "linking_models").returncode == 0
    refused = ctl(served, "jobs", "--state", "OPTIMIZING_MODEL")
    assert refused.returncode == ExitCode.USAGE
    assert "is not one of 'created', 'linking_models', 'success', 'failed'" in refused.stderr.lower()


def test_link_without_wait_prints_the_id_and_the_url(served, hub_emulator, models):
    result = ctl(served, "link", *map(str, models), "-d", DEVICE)
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    assert re.fullmatch(r"j\w+", job_id)
    assert result.stderr.strip() == f"aihubctl: submitted {hub_emulator.base_url}/jobs/{job_id}/"


def test_paths_printed_are_absolute_and_link_download_delivers_like_download(
    served, hub_emulator, lib, models, tmp_path
):
    linking = subprocess.Popen(
        [str(AIHUBCTL), "link", *map(str, models), "-d", DEVICE, "--wait", "--download", "linked"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean_env(AIHUBD_SOCKET=str(served.socket), NO_COLOR="1"),
    )
    assert linking.stdout is not None
    job_id = linking.stdout.readline().strip()
    finish_job(hub_emulator, served, job_id)
    out, err = linking.communicate(timeout=60)
    assert linking.returncode == 0, err
    linked = out.splitlines()
    downloaded = ctl(served, "download", job_id, "again", cwd=tmp_path).stdout.splitlines()
    assert len(linked) == len(downloaded) == 3
    assert all(os.path.isabs(path) for path in linked + downloaded)
    for first, second in zip(linked, downloaded, strict=True):
        a, b = os.stat(first), os.stat(second)
        assert (stat.S_IMODE(a.st_mode), a.st_ino) == (stat.S_IMODE(b.st_mode), b.st_ino)  # the same delivery
    assert stat.S_IMODE(os.stat(linked[0]).st_mode) & 0o222 == 0  # read-only hardlinks to the cache


def test_devices_lists_and_a_typo_names_the_closest_device(served):
    listed = ctl(served, "devices", "--json")
    assert listed.returncode == 0
    names = [device["name"] for device in json.loads(listed.stdout)]
    assert DEVICE in names
    table = ctl(served, "devices", "--attributes", "framework:qnn")
    assert table.returncode == 0 and DEVICE in table.stdout
    typo = ctl(served, "devices", "--name", "Snapdragon 8 Elite QDR")
    assert _error(typo, ExitCode.USAGE).endswith(f"did you mean '{DEVICE}'?")
    link = ctl(served, "link", "mnotexist1", "-d", "snapdragon 8 elite qdr")
    assert _error(link, ExitCode.USAGE).endswith(f"did you mean '{DEVICE}'?")


def test_completion_offers_device_names_and_job_ids_from_the_daemon(served, lib, models):
    job_id = lib.submit_link_job(list(models), DEVICE).job_id

    def complete(words: str, index: int) -> list[str]:
        env = clean_env(
            AIHUBD_SOCKET=str(served.socket),
            _AIHUBCTL_COMPLETE="bash_complete",
            COMP_WORDS=words,
            COMP_CWORD=str(index),
        )
        done = run([str(AIHUBCTL)], capture_output=True, text=True, timeout=60, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return [line.split(",", 1)[1] for line in done.stdout.splitlines()]

    assert DEVICE in complete("aihubctl link a.dlc --device snap", 4)
    assert all(name.lower().startswith("snap") for name in complete("aihubctl link a.dlc --device snap", 4))
    assert job_id in complete(f"aihubctl wait {job_id[:3]}", 2)
