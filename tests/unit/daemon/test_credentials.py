"""Credentials come from qai-hub's client.ini (or a token file / env) and never show the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from aihubd.hub.credentials import DEFAULT_API_URL, MissingCredentials, load_credentials

CANARY = "canary-token-1f2e3d"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIHUBD_HUB_TOKEN", raising=False)
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(tmp_path / "missing.ini"))


def _ini(path: Path, body: str) -> Path:
    path.write_text(body)
    path.chmod(0o600)
    return path


def test_reads_qai_hub_client_ini(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ini = _ini(
        tmp_path / "client.ini",
        f"[api]\napi_token = {CANARY}\napi_url = https://hub.example/\n"
        "web_url = https://web.example\ndefault_project = p123\n",
    )
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    creds = load_credentials()
    assert creds.api_url == "https://hub.example" and creds.web_url == "https://web.example"
    assert creds.default_project == "p123"
    assert creds.auth_headers() == {"Authorization": f"token {CANARY}"}
    assert CANARY not in repr(creds) and CANARY not in str(creds)


def test_token_file_wins_and_defaults_apply(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(CANARY + "\n")
    token.chmod(0o600)
    creds = load_credentials(token_file=token)
    assert creds.api_url == DEFAULT_API_URL and creds.auth_headers()["Authorization"].endswith(CANARY)


def test_missing_everywhere_says_how_to_configure() -> None:
    with pytest.raises(MissingCredentials) as info:
        load_credentials()
    assert "qai-hub configure" in str(info.value) and "--hub emulator" in str(info.value)


def test_world_readable_ini_is_used_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ini = _ini(tmp_path / "client.ini", f"[api]\napi_token = {CANARY}\n")
    ini.chmod(0o644)
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    assert load_credentials().token == CANARY
    assert "chmod 600" in caplog.text and CANARY not in caplog.text


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(CANARY)
    token.chmod(0o640)
    with pytest.raises(MissingCredentials, match="too open") as info:
        load_credentials(token_file=token)
    assert CANARY not in str(info.value)
