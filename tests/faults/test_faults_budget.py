"""One client cannot monopolise the Hub budget, and a Retry-After pause fails calls fast
(issue 11, items 9 and 10), against a real daemon on the standalone emulator.

Delays are measured in Hub requests (the emulator's request log), not wall time: how many of
the flood's requests the Hub served before another client's RefreshJobs (or a waiter's poll)
got its own answer. Wall-clock bounds below only turn a hang into a failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from e2e_support import (
    HUB_DAEMON_FLAGS,
    Daemon,
    Emulator,
    hub_env,
    make_dlc,
    start_daemon,
    start_emulator,
    stopping,
)
from google.rpc import error_details_pb2, status_pb2

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc
from aihubd_client import AsyncClient, HubUnavailableError, ResourceExhaustedError

DEVICE = "Snapdragon 8 Elite QRD"
JOB_GET = "/api/v1/jobs/{job_id}/"
LISTING = "/api/v1/job_summaries/"
FLOOD = 300
PER_PEER = 16  # Lookups' default bound per client connection
CONCURRENT = 4  # ...of which this many ask the Hub at a time
# The daemon's own budget: 20 requests/s, so the flood, if it were all admitted, would queue ~15 s.
FLAGS = list(HUB_DAEMON_FLAGS)
FLAGS[FLAGS.index("--hub-rate") + 1] = "20"
FLAGS.remove("--hub-retry-attempts")
FLAGS.remove("1")  # the default retries: a pause must fail calls fast without that help


@pytest.fixture
def hub(base: Path) -> Iterator[tuple[Emulator, Daemon]]:
    for part in ("e", "d"):
        (base / part).mkdir()
    with stopping(start_emulator(base / "e", "--manual")) as emulator:
        with stopping(
            start_daemon(base / "d", ["--hub-url", emulator.base_url], env=hub_env(base, emulator), extra=FLAGS)
        ) as daemon:
            yield emulator, daemon


def _log(emulator: Emulator) -> list[dict[str, object]]:
    return emulator._admin("GET", "requests")["requests"]  # type: ignore[no-any-return]


def _details(exc: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """ErrorInfo.reason and RetryInfo's delay (seconds) of a daemon error."""
    raw = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), f"no rich status on {exc.code()}: {exc.details()}"
    reason, delay = "", None
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return reason, delay


async def _submit(stub: api_grpc.LinkJobServiceStub, dlc: Path) -> api.Job:
    request = api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(dlc))], device=DEVICE)
    return await stub.SubmitLinkJob(request, timeout=30)


def _flood_before(log: list[dict[str, object]], start: int, route: str) -> int:
    """How many look-ups of unknown jobs the Hub served from ``start`` until the first ``route``
    (route "": until now)."""
    served = 0
    for entry in log[start:]:
        if entry["path"] == route:
            return served
        served += entry["path"] == JOB_GET and entry["status"] == 404
    if not route:
        return served
    raise AssertionError(f"no {route} request after #{start}")


async def _flood(
    stub: api_grpc.LinkJobServiceStub, tag: str, emulator: Emulator | None = None
) -> list[asyncio.Future[api.Job]]:
    """FLOOD concurrent GetJob of distinct unknown ids from one connection, returned once the
    daemon has refused one of them (its bound is full), or once the Hub has served more of them
    than the bound lets one connection have going (the flood is being let through), or all ended."""
    calls = [
        asyncio.ensure_future(stub.GetJob(api.GetJobRequest(job_id=f"jnosuch{tag}{i:04d}"), timeout=120))
        for i in range(FLOOD)
    ]
    pending: set[asyncio.Future[api.Job]] = set(calls)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
        if any(_code(f) is grpc.StatusCode.RESOURCE_EXHAUSTED for f in done):
            break
        if emulator is not None and _flood_before(_log(emulator), 0, "") > PER_PEER:
            break
    return calls


def _code(call: asyncio.Future[api.Job]) -> grpc.StatusCode | None:
    exc = call.exception()
    return exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None


async def test_a_flood_of_unknown_ids_does_not_delay_another_clients_refresh_or_a_waiters_news(
    hub: tuple[Emulator, Daemon], base: Path
) -> None:
    emulator, daemon = hub
    async with (
        grpc.aio.insecure_channel(f"unix:{daemon.socket}") as theirs,
        grpc.aio.insecure_channel(f"unix:{daemon.socket}") as ours,
    ):
        flooder, client = api_grpc.LinkJobServiceStub(theirs), api_grpc.LinkJobServiceStub(ours)
        job = await _submit(client, make_dlc(base / "a.dlc", b"graph-a" * 100))

        emulator.advance(job.job_id)  # CREATED -> LINKING_MODELS, for RefreshJobs to see
        first = await _flood(flooder, "a", emulator)
        start = len(_log(emulator))
        refreshed = await client.RefreshJobs(api.RefreshJobsRequest(), timeout=30)
        assert (refreshed.polled, refreshed.changed) == (1, 1)

        emulator.advance(job.job_id)  # LINKING_MODELS -> DONE: news for a waiter
        second = await _flood(flooder, "b", emulator)
        waiting = len(_log(emulator))
        states = [seen.state async for seen in client.WaitJob(api.WaitJobRequest(job_id=job.job_id), timeout=30)]
        assert states == [api.JOB_STATE_LINKING_MODELS, api.JOB_STATE_DONE]  # the news came (a nudged poll)

        outcomes = await asyncio.gather(*first, *second, return_exceptions=True)
        log = _log(emulator)

    # Another client's RefreshJobs and the waiter's poll waited for no more of the flood's Hub
    # requests than one connection may have going (16), not for the flood (300 at 20/s: ~15 s).
    assert _flood_before(log, start, LISTING) <= PER_PEER
    assert _flood_before(log, waiting, LISTING) <= PER_PEER
    codes = [o.code() if isinstance(o, grpc.aio.AioRpcError) else None for o in outcomes]
    assert set(codes) == {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes.count(grpc.StatusCode.NOT_FOUND) <= 2 * PER_PEER + 2  # the rest were refused, not queued
    assert sum(e["path"] == JOB_GET and e["status"] == 404 for e in log) <= 2 * PER_PEER + 2


async def test_past_the_per_connection_bound_lookups_are_refused_with_a_retry_delay(
    hub: tuple[Emulator, Daemon],
) -> None:
    emulator, daemon = hub
    # The Hub takes 3 s per look-up: the connection's 16 stay going while all 300 calls arrive.
    emulator.set_faults({"rate": 1.0, "kinds": ["slow"], "slow_seconds": 3, "only": [f"GET {JOB_GET}"]})
    async with grpc.aio.insecure_channel(f"unix:{daemon.socket}") as channel:
        calls = await _flood(api_grpc.LinkJobServiceStub(channel), "c")
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(e["path"] == JOB_GET for e in _log(emulator)) == PER_PEER  # only the admitted reached the Hub
    refused = [
        o for o in outcomes if isinstance(o, grpc.aio.AioRpcError) and o.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    ]
    assert len(refused) == FLOOD - PER_PEER, len(refused)
    reason, delay = _details(refused[0])
    assert reason == "TOO_MANY_HUB_LOOKUPS" and delay is not None and delay > 0
    assert "at most 16" in (refused[0].details() or "") and "TrackJob" in (refused[0].details() or "")


async def test_one_unknown_id_asked_300_times_at_once_is_one_hub_request(hub: tuple[Emulator, Daemon]) -> None:
    emulator, daemon = hub
    # The Hub takes 3 s to answer: the 300 calls all arrive while the first look-up is out.
    emulator.set_faults({"rate": 1.0, "kinds": ["slow"], "slow_seconds": 3, "only": [f"GET {JOB_GET}"]})
    async with grpc.aio.insecure_channel(f"unix:{daemon.socket}") as channel:
        stub = api_grpc.LinkJobServiceStub(channel)
        outcomes = await asyncio.gather(
            *(stub.GetJob(api.GetJobRequest(job_id="jsameunknown"), timeout=60) for _ in range(FLOOD)),
            return_exceptions=True,
        )
    assert all(isinstance(o, grpc.aio.AioRpcError) and o.code() is grpc.StatusCode.NOT_FOUND for o in outcomes)
    assert sum(e["path"] == JOB_GET for e in _log(emulator)) == 1


async def test_a_long_retry_after_fails_hub_calls_fast_while_cached_reads_answer(
    hub: tuple[Emulator, Daemon], base: Path
) -> None:
    emulator, daemon = hub
    async with grpc.aio.insecure_channel(f"unix:{daemon.socket}") as channel:
        stub = api_grpc.LinkJobServiceStub(channel)
        known = await _submit(stub, make_dlc(base / "k.dlc", b"graph-k" * 100))
        emulator.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 3600, "only": [f"GET {JOB_GET}"]})
        calls: list[tuple[str, grpc.aio.AioRpcError, float]] = []

        async def expect_unavailable(what: str, call: object) -> None:
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call  # type: ignore[misc]
            calls.append((what, info.value, time.monotonic() - started))

        # The call that meets the 429 fails at once too (no retry that would wait the pause out).
        await expect_unavailable("GetJob", stub.GetJob(api.GetJobRequest(job_id="jnosuch1"), timeout=30))
        emulator.set_faults(None)
        served = len(_log(emulator))
        await expect_unavailable("GetJob", stub.GetJob(api.GetJobRequest(job_id="jnosuch2"), timeout=30))
        await expect_unavailable("SubmitLinkJob", _submit(stub, make_dlc(base / "n.dlc", b"graph-n" * 100)))
        await expect_unavailable("RefreshJobs", stub.RefreshJobs(api.RefreshJobsRequest(), timeout=15))
        assert len(_log(emulator)) == served  # nothing reached the Hub during the pause
        assert [what for what, _e, _t in calls] == ["GetJob", "GetJob", "SubmitLinkJob", "RefreshJobs"]

        cached = await stub.GetJob(api.GetJobRequest(job_id=known.job_id), timeout=5)  # cached reads answer
        assert cached.job_id == known.job_id
        listed = await stub.ListJobs(api.ListJobsRequest(), timeout=5)
        assert known.job_id in [j.job_id for j in listed.jobs]
        info = await api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=5)
        assert info.HasField("hub_paused_until")  # status answers, and says until when

    async with AsyncClient(socket=daemon.socket) as client:  # the Python client exposes the delay
        with pytest.raises(HubUnavailableError) as paused:
            await client.get_job("jnosuch3")
        assert paused.value.reason == "HUB_RETRY_AFTER" and 250 < (paused.value.retry_after or 0) <= 300

    for what, error, took in calls:
        assert error.code() is grpc.StatusCode.UNAVAILABLE, (what, error.code(), error.details())
        assert took < 10, (what, took)  # fast: not the pause (300 s, the --max-retry-after cap)
        reason, delay = _details(error)
        assert reason == "HUB_RETRY_AFTER" and delay is not None and 250 < delay <= 300, (what, reason, delay)
        assert "asked to wait until" in (error.details() or ""), error.details()


async def test_one_clients_lookup_flood_does_not_throttle_another_client_on_the_same_socket(
    hub: tuple[Emulator, Daemon], base: Path
) -> None:
    """gRPC names every Unix-socket peer ``unix:``; the aihubd clients' per-channel id makes each
    its own client for the look-up bound (was: B refused TOO_MANY_HUB_LOOKUPS with A)."""
    emulator, daemon = hub
    async with AsyncClient(daemon.socket) as a, AsyncClient(daemon.socket) as b:
        untracked = (await b.submit_link_job(str(make_dlc(base / "u.dlc", b"graph-u" * 100)), DEVICE)).job_id
        assert await b.untrack_job(untracked)
        # The Hub takes 3 s per look-up: A's 16 stay going while its flood arrives and B asks.
        emulator.set_faults({"rate": 1.0, "kinds": ["slow"], "slow_seconds": 3, "only": [f"GET {JOB_GET}"]})
        flood = [asyncio.ensure_future(a.get_job(f"jnosuchclienta{i:04d}")) for i in range(PER_PEER + 8)]
        try:
            done, _ = await asyncio.wait(flood, timeout=30, return_when=asyncio.FIRST_EXCEPTION)
            refused = [f for f in done if isinstance(f.exception(), ResourceExhaustedError)]
            assert refused, "client A's flood past the bound was not refused"
            assert refused[0].exception().reason == "TOO_MANY_HUB_LOOKUPS"  # type: ignore[union-attr]
            job = await asyncio.wait_for(b.get_job(untracked), timeout=60)  # B's own bound: admitted
            assert job.job_id == untracked
        finally:
            for call in flood:
                call.cancel()
            await asyncio.gather(*flood, return_exceptions=True)
