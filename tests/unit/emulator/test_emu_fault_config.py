"""FaultConfig validation and JSON, the /_emulator/ fault and token endpoints, and the
EmulatorThread API (with the official client: a revoked token stops traffic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import qai_hub as hub

from aihubd.emulator import EmulatorConfig, EmulatorThread, FaultConfig, HubEmulator
from aihubd.emulator.faults import KINDS, FaultInjector


# ------------------------------------------------------------------ config
def test_defaults_and_json_round_trip() -> None:
    default = FaultConfig()
    assert not default.active and default.rate == 0.0 and not default.down
    assert default.paths == ("/api/v1/", "/blobs/") and default.only == ()
    assert EmulatorConfig().faults == default
    assert FaultConfig.from_json({}) == default
    assert FaultConfig.from_json(default.to_json()) == default

    config = FaultConfig(
        rate=0.5,
        seed=3,
        kinds=["429", "slow"],
        retry_after=2,
        slow_seconds=0.5,
        paths=["/api/v1/"],
        only=["GET /api/v1/jobs/{job_id}/", "POST"],
        down=False,
    )
    assert config.kinds == ("429", "slow") and config.only == ("GET /api/v1/jobs/{job_id}/", "POST")
    data = config.to_json()
    assert data == {
        "rate": 0.5,
        "seed": 3,
        "kinds": ["429", "slow"],
        "retry_after": 2,
        "slow_seconds": 0.5,
        "paths": ["/api/v1/"],
        "only": ["GET /api/v1/jobs/{job_id}/", "POST"],
        "down": False,
    }
    assert FaultConfig.from_json(data) == config
    hash(config)  # frozen and hashable
    with pytest.raises(AttributeError):
        config.rate = 1.0  # type: ignore[misc]
    # Comma-separated strings (handy for command lines) and integral floats.
    assert FaultConfig.from_json({"kinds": "500, 503", "rate": 1, "retry_after": 3.0}) == FaultConfig(
        rate=1.0, kinds=("500", "503"), retry_after=3
    )
    assert set(KINDS) == {
        "500",
        "502",
        "503",
        "429",
        "429-no-retry-after",
        "503-retry-after",
        "426",
        "slow",
        "reset-mid-body",
        "drop-after-create",
        "html-body",
        "chunked-cut",
        "short-body",
        "corrupt-body",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"rate": "0.5"},
        {"rate": float("nan")},
        {"kinds": ["404"]},
        {"kinds": [5]},
        {"retry_after": -1},
        {"retry_after": 1.5},
        {"slow_seconds": -1},
        {"paths": ["api/v1/"]},
        {"only": ["G3T /x"]},
        {"only": [""]},
        {"down": "yes"},
        {"seed": "x"},
        {"nonsense": 1},
    ],
)
def test_invalid_configs_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_json(data)


def test_emulator_config_takes_a_dict_or_a_fault_config() -> None:
    assert EmulatorConfig(faults={"down": True}).faults == FaultConfig(down=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EmulatorConfig(faults=3)  # type: ignore[arg-type]


def test_injector_decisions() -> None:
    injector = FaultInjector(FaultConfig(rate=1.0, kinds=("drop-after-create",)))
    assert injector.decide("GET", "/api/v1/jobs/", "/api/v1/jobs/") is None
    decision = injector.decide("POST", "/api/v1/jobs/", "/api/v1/jobs/")
    assert decision is not None and decision.kind == "drop-after-create"
    assert injector.decide("POST", "/api/v1/projects/p/models/", "/api/v1/projects/{project_id}/models/")
    injector.set_config(FaultConfig(down=True, paths=("/",)))
    assert injector.decide("GET", "/_emulator/health", "/_emulator/health") is None
    assert injector.decide("GET", "/other", "<unmatched>").kind == "down"  # type: ignore[union-attr]


# ----------------------------------------------------------- admin endpoints
@pytest.fixture
async def emu() -> AsyncIterator[HubEmulator]:
    emulator = HubEmulator(EmulatorConfig(manual=True, faults=FaultConfig(rate=0.1, seed=9)))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def test_fault_admin_endpoints_round_trip(emu: HubEmulator) -> None:
    base = f"{emu.base_url}/_emulator"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/faults") as resp:  # the config given at start
            assert await resp.json() == {
                "config": FaultConfig(rate=0.1, seed=9).to_json(),
                "counts": {},
                "revoked_tokens": 0,
            }

        wanted = {"rate": 1, "kinds": ["429"], "retry_after": 3, "only": ["GET /api/v1/devices/"]}
        async with s.put(f"{base}/faults", json=wanted) as resp:
            assert resp.status == 200
            reply = await resp.json()
        expected = FaultConfig.from_json(wanted)
        assert reply["config"] == expected.to_json() and emu.fault_config == expected

        async with s.get(f"{emu.base_url}/api/v1/devices/", headers={"Authorization": "token t"}) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "3"

        for bad in (b"{not json", b"[1, 2]", b'{"rate": 7}', b'{"kinds": ["teapot"]}', b'{"x": 1}'):
            async with s.put(f"{base}/faults", data=bad) as resp:
                assert resp.status == 400 and isinstance((await resp.json())["detail"], str)
        assert emu.fault_config == expected  # a refused PUT changes nothing

        async with s.post(f"{base}/tokens/revoke", json={"token": "t"}) as resp:
            assert await resp.json() == {"revoked": True, "revoked_tokens": 1}
        async with s.get(f"{emu.base_url}/api/v1/users/auth/user/", headers={"Authorization": "token t"}) as resp:
            assert resp.status == 401
        async with s.post(f"{base}/tokens/revoke", json={"token": ""}) as resp:
            assert resp.status == 400
        async with s.post(f"{base}/tokens/restore", data=b"nope") as resp:
            assert resp.status == 400

        async with s.get(f"{base}/faults") as resp:
            state = await resp.json()
        assert state["counts"] == {"429": 1, "revoked-token": 1} == emu.faults()
        assert state["revoked_tokens"] == 1

        async with s.delete(f"{base}/faults") as resp:  # no faults; counts are kept
            assert await resp.json() == {
                "config": FaultConfig().to_json(),
                "counts": {"429": 1, "revoked-token": 1},
                "revoked_tokens": 1,
            }
        assert emu.fault_config == FaultConfig()

        async with s.post(f"{base}/tokens/restore", json={"token": "t"}) as resp:
            assert await resp.json() == {"restored": True, "revoked_tokens": 0}
        async with s.post(f"{base}/tokens/restore", json={"token": "t"}) as resp:
            assert await resp.json() == {"restored": False, "revoked_tokens": 0}
        async with s.get(f"{emu.base_url}/api/v1/users/auth/user/", headers={"Authorization": "token t"}) as resp:
            assert resp.status == 200

        async with s.post(f"{base}/counters/reset") as resp:  # clears the fault counts too
            assert resp.status == 200
        assert emu.faults() == {}
    assert not any("_emulator" in key for key in emu.counters())


# ------------------------------------------------------- thread + official client
def test_thread_api_and_a_revoked_token_stops_the_official_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "QAIHUB_CLIENT_INI"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorThread(EmulatorConfig(manual=True)) as et:
        config = hub.ClientConfig(api_token="tok", api_url=et.base_url, web_url=et.base_url + "/", verbose=False)
        client = hub.Client(config=config)
        assert client.get_devices()

        et.revoke_token("tok")
        et.reset_counters()
        with pytest.raises(hub.UserError, match="authenticate"):
            client.get_devices()
        assert et.counters() == {"GET /api/v1/devices/": 1}  # 401 is not retried
        assert et.faults() == {"revoked-token": 1}

        assert et.restore_token("tok") is True
        et.set_faults(FaultConfig(rate=1.0, kinds=("429-no-retry-after",), only=("POST",)))
        assert et.fault_config.kinds == ("429-no-retry-after",)
        assert client.get_devices()  # GETs are not affected
        et.set_faults(None)
        assert et.fault_config == FaultConfig()
