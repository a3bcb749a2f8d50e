"""The daemon's Hub adapter against a recording Hub, side by side with the unmodified official
client: the same headers, the same query keys and values, the same bodies; the listing's creator;
what a 401, a 426 and a Retry-After do."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestServer
from api_hub import EMAIL, QRD, ApiHub, Scripted, Seen
from qai_hub import public_api_pb2 as pb
from qai_hub import public_rest_api as official
from qai_hub.public_rest_api import ClientConfig, SharedEntityType

from aihubd.errors import HubAuthError, HubPaused, HubProtocolTooOld, HubUnavailable
from aihubd.hub.budget import BudgetConfig, RequestBudget, polling
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.identity import PROTOCOL_VERSION
from aihubd.model import Device, JobState
from aihubd.rpc.errors import status_for
from aihubd.services.daemon_status import AUTH_OK, AUTH_PARKED, DaemonStatusService
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

TOKEN = "protocol-test-token"
IN_FLIGHT = JobState.in_flight_states()
IDENTITY = ("client-version", "python-version", "os-type", "os-version", "client-mode")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
async def hub_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ApiHub, str]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = ApiHub()
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("")).rstrip("/")
    await server.close()


def _daemon(base: str, clock: FakeClock, **kwargs: Any) -> AiohttpHubClient:
    budget = RequestBudget(BudgetConfig(rate=1000, burst=1000, max_pause=300.0), clock=clock, sleep=clock.sleep)
    return AiohttpHubClient(HubCredentials(base, base, TOKEN), budget=budget, **kwargs)


def _official_ops(config: ClientConfig) -> dict[str, Callable[[], Any]]:
    """Each operation as the official client's REST layer performs it (what Client/Job call).
    ``auth_user`` comes first: the daemon asks it once and the listing reuses the email."""
    link = pb.LinkJob(
        models=pb.ModelList(models=[pb.Model(model_id="m1")], total_query_count=1),
        device=QRD,
        name="n",
        options="",
    )
    return {
        "auth_user": lambda: official.get_auth_user(config),
        "devices": lambda: official.get_device_list(config, name=QRD.name, os="", attributes=[], select=True),
        "listing": lambda: official.get_job_summary_list(
            config,
            offset=50,
            limit=50,
            states=[int(s) for s in IN_FLIGHT],
            job_type=pb.JobType.JOB_TYPE_LINK,
            creator=EMAIL,
        ),
        "create_job": lambda: official.create_link_job(config, link),
        "get_job": lambda: official.get_job(config, "j1"),
        "rename": lambda: official.set_job_name(config, "j1", "renamed"),
        "get_sharing": lambda: official.get_sharing(config, "j1", SharedEntityType.JOB),
        "share": lambda: official.modify_sharing(config, "j1", SharedEntityType.JOB, ["b@example.com"], []),
        "unshare_all": lambda: official.disable_sharing(config, "j1", SharedEntityType.JOB),
        "get_model": lambda: official.get_model(config, "m1"),
    }


def _daemon_ops(hub: AiohttpHubClient) -> dict[str, Callable[[], Awaitable[Any]]]:
    device = Device(QRD.name, QRD.os, tuple(QRD.attributes))
    return {
        "auth_user": lambda: hub.get_auth_user_email(),
        "devices": lambda: hub.select_devices(QRD.name),
        "listing": lambda: hub.list_link_job_summaries(IN_FLIGHT, 50, 50),
        "create_job": lambda: hub.create_link_job(["m1"], device, "n", ""),
        "get_job": lambda: hub.get_job("j1"),
        "rename": lambda: hub.set_job_name("j1", "renamed"),
        "get_sharing": lambda: hub.get_sharing("j1"),
        "share": lambda: hub.modify_sharing("j1", ["b@example.com"], []),
        "unshare_all": lambda: hub.disable_sharing("j1"),
        "get_model": lambda: hub.get_model("m1"),
    }


async def _record(state: ApiHub, run: Callable[[], Awaitable[Any]]) -> Seen:
    state.requests.clear()
    await run()
    assert len(state.requests) == 1, [(r.method, r.path) for r in state.requests]
    return state.requests[0]


async def test_every_request_has_the_official_clients_shape_and_headers(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    config = ClientConfig(api_token=TOKEN, api_url=base, web_url=base)
    clock = FakeClock()
    daemon = _daemon(base, clock)
    try:
        official_ops, daemon_ops = _official_ops(config), _daemon_ops(daemon)
        for op, official_call in official_ops.items():
            theirs = await _record(state, lambda call=official_call: asyncio.to_thread(call))  # type: ignore[misc]
            ours = await _record(state, daemon_ops[op])
            assert (ours.method, ours.path) == (theirs.method, theirs.path), op
            assert ours.query == theirs.query, op  # the same keys, values and order
            assert ours.body == theirs.body, op  # byte for byte the same protobuf
            extra = set(ours.headers) - set(theirs.headers)
            assert not extra, f"{op}: headers the official client does not send: {extra}"
            assert set(theirs.headers) - set(ours.headers) <= {"connection"}, op  # aiohttp keeps alive implicitly
            for name in (*IDENTITY, "authorization", "content-type"):
                assert ours.headers[name] == theirs.headers[name], (op, name)
            assert ours.headers["user-agent"].startswith("aihubd/")
    finally:
        await daemon.close()
    assert theirs.headers["client-version"] == PROTOCOL_VERSION  # the constant is the installed client's version


async def test_the_listing_names_this_accounts_email_as_creator(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    daemon = _daemon(base, FakeClock())
    try:
        await daemon.list_link_job_summaries(IN_FLIGHT, 0, 50)
        await daemon.list_link_job_summaries((), 50, 50)
    finally:
        await daemon.close()
    assert len(state.seen("GET", "/users/auth/user/")) == 1  # asked once, then remembered
    first, second = state.seen("GET", "/job_summaries/")
    assert first.query == [
        ("limit", "50"),
        ("creator", EMAIL),
        ("state", ",".join(str(int(s)) for s in IN_FLIGHT)),
        ("type", "link"),
    ]
    assert second.query == [("offset", "50"), ("limit", "50"), ("creator", EMAIL), ("type", "link")]


async def test_an_account_without_an_email_is_never_listed_org_wide(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    state.email = ""
    daemon = _daemon(base, FakeClock())
    try:
        with pytest.raises(Exception, match="which account the token belongs to"):
            await daemon.list_link_job_summaries(IN_FLIGHT, 0, 50)
    finally:
        await daemon.close()
    assert state.seen("GET", "/job_summaries/") == []


async def test_the_poller_pages_a_listing_without_totals_while_pages_are_full(
    hub_server: tuple[ApiHub, str], tmp_path: Path
) -> None:
    """The Hub leaves total_query_count unset (0): 120 jobs in pages of 50 are still all seen."""
    state, base = hub_server
    state.summaries = 120
    clock = FakeClock()
    daemon = _daemon(base, clock)
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        store = JobStore(db)
        poller = Poller(daemon, store, Notifier(), Schedule(Cadence(base=5, cap=60)), page_size=50, clock=clock)
        jobs = [await daemon.get_job(f"j{i:04d}") for i in range(120)]
        for job in jobs:
            job = dataclasses.replace(job, last_updated_time=datetime.fromtimestamp(1_700_000_000, tz=UTC))
            await store.save([job])
            poller.follow(job, soon=False)
        state.requests.clear()
        result = await poller.poll_now()
    finally:
        await db.close()
        await daemon.close()
    assert result.polled == 120
    listings = state.seen("GET", "/job_summaries/")
    assert [dict(r.query).get("offset", "0") for r in listings] == ["0", "50", "100"]
    assert all(dict(r.query)["creator"] == EMAIL for r in listings)
    assert state.seen("GET", "/jobs/") == []  # every job was seen in the listing: no per-job GET


async def test_426_is_failed_precondition_naming_the_protocol_version(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    state.script.append(Scripted("GET /api/v1/jobs/", 426, body='{"detail": "Please upgrade qai-hub."}'))
    daemon = _daemon(base, FakeClock())
    try:
        with pytest.raises(HubProtocolTooOld) as info:
            await daemon.get_job("j1")
    finally:
        await daemon.close()
    message = str(info.value)
    assert f"the Hub requires a newer client protocol than qai-hub {PROTOCOL_VERSION}" in message
    assert "Please upgrade qai-hub." in message
    assert status_for(info.value) == grpc.StatusCode.FAILED_PRECONDITION
    assert len(state.seen("GET", "/jobs/j1/")) == 1  # not retried: asking again cannot help


async def test_a_transient_401_parks_traffic_then_a_re_probe_resumes_it(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    state.script.append(Scripted("GET /api/v1/jobs/", 401))
    state.script.append(Scripted("GET /api/v1/users/auth/user/", 401))  # the first re-probe: still 401
    clock = FakeClock()
    daemon = _daemon(base, clock)
    status = DaemonStatusService(daemon, _Counts(), lambda: 0, wall_clock=lambda: 5000.0)
    try:
        with pytest.raises(HubAuthError):
            await daemon.get_job("j1")
        parked = await status.status()
        assert parked.hub_auth_state == AUTH_PARKED
        assert parked.hub_auth_next_probe == datetime.fromtimestamp(5002.0, tz=UTC)  # first probe after 2 s
        sent = len(state.requests)
        with pytest.raises(HubAuthError):  # parked: fails fast without asking the Hub
            await daemon.get_job("j1")
        assert len(state.requests) == sent
        clock.now += 2.0
        with pytest.raises(HubAuthError):  # the probe is due: one users/auth/user, still rejected
            await daemon.get_job("j1")
        assert [(r.method, r.path) for r in state.requests[sent:]] == [("GET", "/api/v1/users/auth/user/")]
        clock.now += 3.9  # the backoff doubled to 4 s: not due yet
        with pytest.raises(HubAuthError):
            await daemon.get_job("j1")
        assert len(state.requests) == sent + 1
        clock.now += 0.1  # due: the probe answers, traffic resumes with the request itself
        job = await daemon.get_job("j1")
        assert job.job_id == "j1"
        assert [(r.method, r.path) for r in state.requests[sent + 1 :]] == [
            ("GET", "/api/v1/users/auth/user/"),
            ("GET", "/api/v1/jobs/j1/"),
        ]
        resumed = await status.status()
        assert resumed.hub_auth_state == AUTH_OK and resumed.hub_auth_next_probe is None
        assert resumed.account_email == EMAIL
    finally:
        await status.close()
        await daemon.close()


async def test_a_retry_after_pause_is_capped_and_shown_in_daemon_status(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    state.script.append(Scripted("GET /api/v1/devices/", 503, headers={"Retry-After": "3600"}))
    clock = FakeClock()
    daemon = _daemon(base, clock)
    status = DaemonStatusService(daemon, _Counts(), lambda: 0, wall_clock=lambda: 5000.0)
    try:
        # Let the first attempt fail without waiting it out, to look at the status mid-pause.
        daemon._retry = type(daemon._retry)(attempts=1)
        with pytest.raises(HubUnavailable):
            await daemon.select_devices(QRD.name)
        paused = await status.status()
        assert paused.hub_paused_until == datetime.fromtimestamp(5300.0, tz=UTC)  # capped: 300 s, not an hour
        started = clock.now
        with pytest.raises(HubPaused) as fast:  # an on-demand call does not hang on the pause...
            await daemon.select_devices(QRD.name)
        assert clock.now == started and fast.value.retry_after == pytest.approx(300.0)
        with polling():  # ...the poller waits it out on the shared budget
            assert await daemon.select_devices(QRD.name)
        assert clock.now - started == pytest.approx(300.0)
        assert (await status.status()).hub_paused_until is None
    finally:
        await status.close()
        await daemon.close()


async def test_reads_are_retried_at_least_as_patiently_as_the_official_client(hub_server: tuple[ApiHub, str]) -> None:
    """The official client: 7 attempts, ~46.5 s of backoff for a read; Retry-After honoured."""
    state, base = hub_server
    state.script.append(Scripted("GET /api/v1/jobs/", 503, times=6))
    clock = FakeClock()
    daemon = _daemon(base, clock)
    try:
        assert (await daemon.get_job("j1")).job_id == "j1"
        assert len(state.seen("GET", "/jobs/j1/")) == 7
        assert sum(clock.slept) >= 46.5
        state.requests.clear()
        clock.slept.clear()
        state.script.append(Scripted("GET /api/v1/jobs/", 503, headers={"Retry-After": "2"}, times=2))
        assert (await daemon.get_job("j1")).job_id == "j1"
        assert sum(clock.slept) == pytest.approx(4.0)  # the Hub's 2 s, twice, instead of the backoff
    finally:
        await daemon.close()


async def test_a_rename_is_retried_as_the_official_client_retries_it(hub_server: tuple[ApiHub, str]) -> None:
    state, base = hub_server
    state.script.append(Scripted("PATCH /api/v1/jobs/", 502, times=2))
    daemon = _daemon(base, FakeClock())
    try:
        await daemon.set_job_name("j1", "renamed")
    finally:
        await daemon.close()
    assert len(state.seen("PATCH", "/jobs/j1/")) == 3


async def test_a_device_name_the_hub_resolves_to_several_devices_comes_back_whole(
    hub_server: tuple[ApiHub, str],
) -> None:
    state, base = hub_server
    state.devices = [pb.Device(name="Samsung Galaxy S24", os="14"), pb.Device(name="Samsung Galaxy S24", os="15")]
    daemon = _daemon(base, FakeClock())
    try:
        devices = await daemon.select_devices("Samsung Galaxy S24")
    finally:
        await daemon.close()
    assert [d.os for d in devices] == ["14", "15"]  # not silently the first: the submitter refuses it


class _Counts:
    wait_streams = 0  # WaitJob streams open (read by the status)

    async def counts(self) -> tuple[int, int]:
        return 0, 0

    def trouble(self) -> tuple[str, bool] | None:
        return None  # the poller is not in trouble
