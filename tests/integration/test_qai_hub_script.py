"""A realistic ``qai_hub`` link-job script runs unchanged but for its import line: once with the
official client against the emulator, once with ``import aihubd_client as hub`` against a real
daemon on that emulator; both see the same things (upload two models, link, wait, download the
target model, logs, results, sharing, rename, summaries, the official errors)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub
from child_procs import run
from e2e_support import (
    TEST_TOKEN,
    Daemon,
    Emulator,
    clean_env,
    make_dlc,
    start_daemon,
    start_emulator,
    stopping,
    token_env,
)

SCRIPT = Path(__file__).with_name("scripts") / "qai_hub_link_script.py"
OFFICIAL_IMPORT = "import qai_hub as hub\n"
OTHER_TOKEN = "test-token-script-colleague"


@pytest.fixture(scope="module")
def live_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator whose jobs finish on their own, quickly (the script waits like a user's)."""
    with stopping(start_emulator(tmp_path_factory.mktemp("emu-live"), "--link-seconds", "0.2")) as emu:
        yield emu


@pytest.fixture(scope="module")
def live_daemon(tmp_path_factory: pytest.TempPathFactory, live_emulator: Emulator) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("daemon-live")
    extra = ["--poll-interval", "0.1", "--max-poll-interval", "0.2", "--hub-rate", "1000"]
    with stopping(start_daemon(base, ["--hub-url", live_emulator.base_url], env=token_env(base), extra=extra)) as d:
        yield d


def _run(script: Path, out: Path, models: tuple[Path, Path], email: str, env: dict[str, str]) -> dict:
    out.mkdir()
    done = run(
        [sys.executable, str(script), str(out), *map(str, models), email],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_qai_hub_script_runs_with_only_the_import_changed(live_emulator, live_daemon, tmp_path):
    models = (make_dlc(tmp_path / "prompt.dlc", b"P" * 5000), make_dlc(tmp_path / "token.dlc", b"T" * 5000))
    colleague = hub.ClientConfig(api_token=OTHER_TOKEN, api_url=live_emulator.base_url, web_url=live_emulator.base_url)
    email = hub.public_rest_api.get_auth_user(colleague).email

    ini = tmp_path / "client.ini"
    ini.write_text(
        f"[api]\napi_token = {TEST_TOKEN}\napi_url = {live_emulator.base_url}\nweb_url = {live_emulator.base_url}\n"
    )
    official = _run(SCRIPT, tmp_path / "official", models, email, clean_env(QAIHUB_CLIENT_INI=str(ini)))

    source = SCRIPT.read_text()
    assert source.count(OFFICIAL_IMPORT) == 1
    changed = tmp_path / "aihubd_script.py"
    changed.write_text(source.replace(OFFICIAL_IMPORT, "import aihubd_client as hub\n"))
    ours = _run(changed, tmp_path / "ours", models, email, clean_env(AIHUBD_SOCKET=str(live_daemon.socket)))

    assert official["status"] == "SUCCESS" and official["success"] is True
    assert official["shared"] == [email] and official["unshared"] == []
    assert official["missing_dir_error"] == "Download directory 'OUT/missing' does not exist."
    assert official["summary"] == [["llm-renamed", "SUCCESS", "LINK"]]
    assert official["model_file"] == "linked.bin" and official["model_bytes"] > 0
    assert ours == official
