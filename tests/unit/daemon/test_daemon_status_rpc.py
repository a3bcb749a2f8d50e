"""GetDaemonInfo carries the Hub-traffic state (DaemonInfo fields 40-44) and `aihubctl daemon
status` shows it: parked by a 401 (with the next re-probe) or paused by a Retry-After (until when)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aihubd.rpc.daemon_servicer import DaemonServicer
from aihubd.services.daemon_status import AUTH_OK, AUTH_PARKED, DaemonStatus
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client.render import daemon_info_rows
from aihubd_client.values import DaemonInfo

SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PROBE = datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)
PAUSE = datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC)


class _Status:
    def __init__(self, status: DaemonStatus) -> None:
        self._value = status

    async def status(self) -> DaemonStatus:
        return self._value


def _status(**held: Any) -> DaemonStatus:
    return DaemonStatus(
        version="0.1.0",
        hub_reachable=False,
        hub_error="401",
        account_email="me@example.com",
        tracked_jobs=1,
        in_flight_jobs=1,
        cache_bytes=0,
        **held,
    )


async def _info(status: DaemonStatus) -> api.DaemonInfo:
    servicer = DaemonServicer(_Status(status), "https://hub", "https://web", "hub")  # type: ignore[arg-type]
    return await servicer.GetDaemonInfo(api.GetDaemonInfoRequest(), None)  # type: ignore[arg-type]


def _row(info: DaemonInfo, label: str) -> str:
    return next(str(text) for name, text in daemon_info_rows(info) if name == label)


async def test_parked_and_paused_traffic_reach_the_cli() -> None:
    message = await _info(
        _status(
            hub_auth_state=AUTH_PARKED, hub_auth_parked_since=SINCE, hub_auth_next_probe=PROBE, hub_paused_until=PAUSE
        )
    )
    assert message.hub_protocol_version == "0.56.0" and message.hub_auth_state == AUTH_PARKED
    assert message.hub_auth_next_probe.ToDatetime(tzinfo=UTC) == PROBE
    info = DaemonInfo.from_pb(message)
    assert info.hub_paused_until == "2026-01-02T03:09:05+00:00"
    shown = _row(info, "hub traffic")
    assert "parked-for-auth since 2026-01-02T03:04:05+00:00" in shown
    assert "next probe 2026-01-02T03:04:09+00:00" in shown
    assert "Retry-After until 2026-01-02T03:09:05+00:00" in shown
    assert _row(info, "hub protocol") == "qai-hub 0.56.0"


async def test_flowing_traffic_shows_ok_and_no_times() -> None:
    message = await _info(_status(hub_auth_state=AUTH_OK))
    assert not message.HasField("hub_paused_until") and not message.HasField("hub_auth_parked_since")
    info = DaemonInfo.from_pb(message)
    assert _row(info, "hub traffic") == "ok" and info.hub_auth_next_probe == ""
