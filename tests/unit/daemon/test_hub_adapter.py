"""The HTTP Hub adapter against the emulator: Retry-After pauses everything, 401 stops traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aihubd.emulator import EmulatorConfig, FaultConfig, HubEmulator
from aihubd.errors import HubAuthError, HubUnavailable
from aihubd.hub.budget import BudgetConfig, RequestBudget
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.model import JobState

TOKEN = "adapter-test-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[HubEmulator]:
    emu = HubEmulator(EmulatorConfig(manual=True, state_dir=tmp_path / "emu"))
    await emu.start()
    yield emu
    await emu.stop()


def _client(emu: HubEmulator, clock: FakeClock, token: str = TOKEN, reload=None) -> AiohttpHubClient:
    creds = HubCredentials(api_url=emu.base_url, web_url=emu.base_url, token=token)
    budget = RequestBudget(BudgetConfig(rate=1000, burst=1000), clock=clock, sleep=clock.sleep)
    return AiohttpHubClient(creds, retry=RetryPolicy(attempts=1), budget=budget, reload_credentials=reload)


async def test_retry_after_on_one_endpoint_pauses_all_endpoints(emulator: HubEmulator) -> None:
    clock = FakeClock()
    hub = _client(emulator, clock)
    try:
        emulator.set_faults(FaultConfig(rate=1.0, kinds=("429",), retry_after=7, only=("GET /api/v1/job_summaries/",)))
        with pytest.raises(HubUnavailable) as info:
            await hub.list_link_job_summaries(JobState.in_flight_states(), 0, 50)
        assert info.value.retry_after == 7
        emulator.set_faults(None)
        before = clock.now
        assert await hub.select_devices("Snapdragon 8 Elite QRD")  # another endpoint...
        assert clock.now - before >= 7  # ...waited out the Hub's Retry-After first
    finally:
        await hub.close()


async def test_401_parks_hub_traffic_re_probes_with_backoff_and_resumes_on_a_new_token(
    emulator: HubEmulator,
) -> None:
    clock = FakeClock()
    new_token = {"value": TOKEN}
    hub = _client(
        emulator, clock, reload=lambda: HubCredentials(emulator.base_url, emulator.base_url, new_token["value"])
    )
    qrd = "Snapdragon 8 Elite QRD"
    try:
        await hub.select_devices(qrd)
        emulator.revoke_token(TOKEN)
        with pytest.raises(HubAuthError):
            await hub.select_devices(qrd)
        served = sum(emulator.counters().values())
        with pytest.raises(HubAuthError):  # parked: fails fast, nothing reaches the Hub
            await hub.select_devices(qrd)
        assert sum(emulator.counters().values()) == served
        clock.now += 2.0  # the first re-probe is due: one users/auth/user, still rejected
        with pytest.raises(HubAuthError):
            await hub.select_devices(qrd)
        assert sum(emulator.counters().values()) == served + 1
        clock.now += 1.0  # the next probe waits 4 s (due at t=6): nothing sent yet
        with pytest.raises(HubAuthError):
            await hub.select_devices(qrd)
        assert sum(emulator.counters().values()) == served + 1
        new_token["value"] = "a-fresh-token"  # `qai-hub configure` wrote a new one...
        clock.now += 1.0  # ...found at the next credentials re-read (t=4), probed at once, before t=6
        assert await hub.select_devices(qrd)
        assert not hub.traffic().auth.parked
    finally:
        await hub.close()


async def test_broken_blob_transfer_resumes_with_range(emulator: HubEmulator, tmp_path: Path) -> None:
    clock = FakeClock()
    hub = AiohttpHubClient(
        HubCredentials(emulator.base_url, emulator.base_url, TOKEN),
        retry=RetryPolicy(attempts=4, base=0.001, cap=0.001),
        budget=RequestBudget(clock=clock, sleep=clock.sleep),
    )
    try:
        dlc = tmp_path / "a.dlc"
        dlc.write_bytes(bytes(range(256)) * 4000)
        model_id = await hub.upload_model(dlc, "a.dlc")
        target = await hub.target_model_file(model_id)
        emulator.set_faults(FaultConfig(rate=1.0, kinds=("reset-mid-body",), only=("GET /blobs/{blob_key}",)))
        with pytest.raises(HubUnavailable):  # every attempt cut: gives up after the retry budget
            await hub.download(target, tmp_path / "cut")
        emulator.set_faults(FaultConfig(rate=0.5, seed=3, kinds=("reset-mid-body",), only=("GET /blobs/{blob_key}",)))
        size, _digest = await hub.download(target, tmp_path / "resumed")
        assert (tmp_path / "resumed").read_bytes() == dlc.read_bytes() and size == dlc.stat().st_size
        assert emulator.faults().get("reset-mid-body", 0) >= 1
    finally:
        await hub.close()
