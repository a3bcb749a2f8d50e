"""Fixtures for driving the unmodified official qai-hub client against the emulator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qai_hub as hub
import qai_hub.client

from aihubd.emulator import EmulatorConfig, EmulatorThread

# Binary fractions keep the client's `time_elapsed % _polling_interval == 0` check exact.
FAST_POLL_SECONDS = 0.125
CHUNK = 4096


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "QAIHUB_CLIENT_INI"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def fast_polling() -> Iterator[None]:
    """Make `Job.wait()` poll quickly; restore the class attribute afterwards."""
    saved = qai_hub.client.Job._polling_interval
    qai_hub.client.Job._polling_interval = FAST_POLL_SECONDS  # type: ignore[assignment]
    try:
        yield
    finally:
        qai_hub.client.Job._polling_interval = saved


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    """An emulator whose link jobs finish on their own after 0.25 s."""
    with EmulatorThread(EmulatorConfig(link_seconds=0.25)) as et:
        yield et


@pytest.fixture
def manual_emu() -> Iterator[EmulatorThread]:
    """An emulator whose jobs only move through `advance`."""
    with EmulatorThread(EmulatorConfig(manual=True)) as et:
        yield et


ClientFactory = Callable[[EmulatorThread, str], hub.Client]


@pytest.fixture
def make_client() -> ClientFactory:
    def factory(et: EmulatorThread, token: str) -> hub.Client:
        config = hub.ClientConfig(api_token=token, api_url=et.base_url, web_url=et.base_url + "/", verbose=False)
        return hub.Client(config=config)

    return factory


@pytest.fixture
def dlc_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two different .dlc files sharing two chunk-aligned blocks of content."""
    shared = bytes(range(256)) * (2 * CHUNK // 256)
    a = tmp_path / "a.dlc"
    b = tmp_path / "b.dlc"
    a.write_bytes(shared + b"graph-a" * 100)
    b.write_bytes(shared + b"graph-b" * 333)
    return a, b


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A scratch dir that is also the cwd (relative download paths stay inside tmp)."""
    out = tmp_path / "work"
    out.mkdir()
    old = os.getcwd()
    os.chdir(out)
    try:
        yield out
    finally:
        os.chdir(old)
