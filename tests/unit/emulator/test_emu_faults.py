"""Fault injection over HTTP: each kind, rate and seed, filters, down, revoked tokens."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from qai_hub import public_api_pb2 as pb

from aihubd.emulator import EmulatorConfig, FaultConfig, HubEmulator
from aihubd.emulator.faults import STATUS_KINDS

PROTOBUF = "application/x-protobuf"
DEVICE = pb.Device(name="Snapdragon 8 Elite QRD", os="15")
DEVICES = "GET /api/v1/devices/"
BLOB_GET = "GET /blobs/{blob_key}"


class Hub:
    """A small protobuf client for the emulator's API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str = "tok") -> None:
        self.session = session
        self.base = base_url
        self.headers = {"Content-Type": PROTOBUF, "Authorization": f"token {token}"}

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1/{path}"

    async def call(self, method: str, path: str, body: bytes = b"", **params: str):
        async with self.session.request(method, self.url(path), data=body, headers=self.headers, params=params) as resp:
            return resp.status, resp.headers.copy(), await resp.read()

    async def ok(self, method: str, path: str, message: type, body: bytes = b"", **params: str):
        status, headers, data = await self.call(method, path, body, **params)
        assert 200 <= status < 300, (status, data)
        assert headers["Content-Type"] == PROTOBUF
        return message.FromString(data)

    async def upload(self, name: str, data: bytes) -> str:
        created = await self.ok(
            "POST", "models/", pb.CreateUpdateResponse, pb.Model(name=name, model_type=15).SerializeToString()
        )
        info = await self.ok(
            "GET",
            f"models/{created.id}/multipart_upload/",
            pb.FileUploadResponse,
            file_size=str(len(data)),
            use_acceleration="true",
            supports_s3_credentials="true",
        )
        async with self.session.put(info.multipart_url.urls[0], data=data, skip_auto_headers=["Content-Type"]) as resp:
            assert resp.status == 200
            etag = resp.headers["ETag"]
        done = pb.FileMultipartUploadComplete(upload_id=info.multipart_url.upload_id, etags=[etag])
        await self.ok(
            "POST", f"models/{created.id}/multipart_upload/", pb.CreateUpdateResponse, done.SerializeToString()
        )
        return created.id

    def job_body(self, model_ids: list[str], name: str = "job") -> bytes:
        link = pb.LinkJob(name=name, device=DEVICE)
        link.models.models.extend(pb.Model(model_id=m) for m in model_ids)
        return pb.Job(link_job=link).SerializeToString()

    async def download_url(self, model_id: str) -> str:
        info = await self.ok(
            "GET",
            f"models/{model_id}/download/",
            pb.FileDownloadResponse,
            use_acceleration="true",
            supports_s3_credentials="true",
        )
        return info.url.url


async def raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send one raw HTTP request (the caller adds ``Connection: close``); all bytes
    received until the server closes."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def emu() -> AsyncIterator[HubEmulator]:
    emulator = HubEmulator(EmulatorConfig(manual=True))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def hub(emu: HubEmulator, session: aiohttp.ClientSession) -> Hub:
    return Hub(session, emu.base_url)


# ------------------------------------------------------------------ default
async def test_default_config_injects_nothing(emu: HubEmulator, hub: Hub, session) -> None:
    assert emu.config.faults == FaultConfig() and not FaultConfig().active
    model_id = await hub.upload("a.dlc", b"abc" * 100)
    job_id = (await hub.ok("POST", "jobs/", pb.CreateUpdateResponse, hub.job_body([model_id]))).id
    for _ in range(50):
        await hub.ok("GET", "devices/", pb.DeviceList)
        await hub.ok("GET", f"jobs/{job_id}/", pb.Job)
    async with session.get(await hub.download_url(model_id)) as resp:
        assert resp.status == 200 and await resp.read() == b"abc" * 100
    assert emu.faults() == {}


# ------------------------------------------------------------ status kinds
@pytest.mark.parametrize("kind", sorted(STATUS_KINDS))
async def test_status_kinds(emu: HubEmulator, hub: Hub, session, kind: str) -> None:
    status, with_header = STATUS_KINDS[kind]
    model_id = await hub.upload("a.dlc", b"xyz")
    url = await hub.download_url(model_id)
    emu.reset_counters()
    emu.set_faults(FaultConfig(rate=1.0, kinds=(kind,), retry_after=7))

    got, headers, body = await hub.call("GET", "devices/")
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    assert isinstance(json.loads(body)["detail"], str)
    assert headers.get("Retry-After") == ("7" if with_header else None)

    # The handler does not run: no model is created.
    before = len(emu.state.models)
    got, _, _ = await hub.call("POST", "models/", pb.Model(name="b", model_type=15).SerializeToString())
    assert got == status and len(emu.state.models) == before

    async with session.get(url) as resp:  # blob paths get S3-style XML
        assert resp.status == status
        assert b"<Error><Code>" in await resp.read()
        assert ("Retry-After" in resp.headers) is with_header

    assert emu.faults() == {kind: 3}
    counters = emu.counters()  # faulted requests are counted as usual
    assert counters[DEVICES] == 1 and counters["POST /api/v1/models/"] == 1
    assert counters[BLOB_GET] == 1


async def test_retry_after_defaults_to_one_second(emu: HubEmulator, hub: Hub) -> None:
    emu.set_faults(FaultConfig(rate=1.0, kinds=("429",)))
    status, headers, _ = await hub.call("GET", "devices/")
    assert status == 429 and headers["Retry-After"] == "1"
    emu.set_faults(FaultConfig(rate=1.0, kinds=("503-retry-after",), retry_after=0))
    status, headers, _ = await hub.call("GET", "devices/")
    assert status == 503 and headers["Retry-After"] == "0"


# -------------------------------------------------------------------- slow
async def test_slow_waits_on_the_injected_sleep(session) -> None:
    requested: list[float] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        requested.append(seconds)
        entered.set()
        await release.wait()

    emu = HubEmulator(EmulatorConfig(manual=True), sleep=fake_sleep)
    await emu.start()
    try:
        hub = Hub(session, emu.base_url)
        emu.set_faults(FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=12.5))
        call = asyncio.create_task(hub.ok("GET", "devices/", pb.DeviceList))
        await asyncio.wait_for(entered.wait(), 10)
        assert requested == [12.5]
        assert not call.done()  # no answer while the delay lasts
        release.set()
        devices = await asyncio.wait_for(call, 10)  # then a normal answer
        assert len(devices.devices) > 0
        assert emu.faults() == {"slow": 1} and emu.counters()[DEVICES] == 1
    finally:
        release.set()
        await emu.stop()


async def test_slow_really_delays(emu: HubEmulator, hub: Hub) -> None:
    emu.set_faults(FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=0.2))
    started = time.monotonic()
    await hub.ok("GET", "users/auth/user/", pb.User)
    assert time.monotonic() - started >= 0.2
    assert emu.faults() == {"slow": 1}


# ------------------------------------------------------------ reset-mid-body
async def test_reset_mid_body_on_an_api_response(emu: HubEmulator, hub: Hub) -> None:
    full = await hub.ok("GET", "devices/", pb.DeviceList)
    expected = full.SerializeToString()
    emu.set_faults(FaultConfig(rate=1.0, kinds=("reset-mid-body",)))
    with pytest.raises(aiohttp.ClientPayloadError):
        await hub.call("GET", "devices/")

    port = emu.base_url.rsplit(":", 1)[1]
    raw = await raw_exchange(
        emu.base_url,
        (
            f"GET /api/v1/devices/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Authorization: token tok\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    status_line, headers, body = split_response(raw)
    assert status_line.startswith("HTTP/1.1 200")
    assert headers["content-type"] == PROTOBUF
    assert int(headers["content-length"]) == len(expected)
    assert body == expected[: len(expected) // 2]  # half the body, then the connection ends
    assert emu.faults() == {"reset-mid-body": 2}


async def read_until_cut(resp: aiohttp.ClientResponse) -> bytes:
    """The bytes received before the connection ended mid-body."""
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in resp.content.iter_any():
            received += chunk
    return bytes(received)


async def test_reset_mid_body_blob_download_resumes_with_range(emu: HubEmulator, hub: Hub, session) -> None:
    data = random.Random(7).randbytes(300_001)
    model_id = await hub.upload("big.dlc", data)
    url = await hub.download_url(model_id)
    emu.set_faults(FaultConfig(rate=1.0, kinds=("reset-mid-body",), only=(BLOB_GET,)))

    async with session.get(url) as resp:
        assert resp.status == 200 and resp.headers["Accept-Ranges"] == "bytes"
        assert int(resp.headers["Content-Length"]) == len(data)
        etag = resp.headers["ETag"]
        first = await read_until_cut(resp)
    assert first == data[: len(data) // 2]

    # A Range request may be cut as well: half of the remaining bytes arrive.
    start = len(first)
    async with session.get(url, headers={"Range": f"bytes={start}-"}) as resp:
        assert resp.status == 206 and resp.headers["ETag"] == etag
        assert resp.headers["Content-Range"] == f"bytes {start}-{len(data) - 1}/{len(data)}"
        second = await read_until_cut(resp)
    assert second == data[start : start + (len(data) - start) // 2]
    assert emu.faults() == {"reset-mid-body": 2}

    emu.set_faults(None)
    start += len(second)
    async with session.get(url, headers={"Range": f"bytes={start}-"}) as resp:
        assert resp.status == 206 and resp.headers["ETag"] == etag
        rest = await resp.read()
    assert first + second + rest == data


async def test_reset_mid_body_does_not_touch_uploads_or_head(emu: HubEmulator, hub: Hub, session) -> None:
    emu.set_faults(FaultConfig(rate=1.0, kinds=("reset-mid-body",), only=("PUT", "HEAD")))
    model_id = await hub.upload("a.dlc", b"payload")  # blob PUT: not applicable
    async with session.head(await hub.download_url(model_id)) as resp:
        assert resp.status == 403  # as from S3: the URL was signed for GET; answered whole, not cut
    assert emu.faults() == {}


# --------------------------------------------------------- drop-after-create
async def test_drop_after_create(session, tmp_path: Path) -> None:
    config = EmulatorConfig(manual=True, state_dir=tmp_path / "state")
    emu = HubEmulator(config)
    await emu.start()
    try:
        hub = Hub(session, emu.base_url)
        model_id = await hub.upload("a.dlc", b"abc" * 50)
        emu.set_faults(FaultConfig(rate=1.0, kinds=("drop-after-create",)))

        await hub.ok("GET", "devices/", pb.DeviceList)  # only create endpoints are affected
        assert emu.faults() == {}

        body = hub.job_body([model_id], name="dropped")
        port = emu.base_url.rsplit(":", 1)[1]
        request = (
            f"POST /api/v1/jobs/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: token tok\r\nContent-Type: {PROTOBUF}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        assert await raw_exchange(emu.base_url, request) == b""  # not a single byte back

        with pytest.raises(aiohttp.ServerDisconnectedError):
            await hub.call("POST", "models/", pb.Model(name="m2", model_type=15).SerializeToString())

        # A create that fails is answered as usual.
        status, _, _ = await hub.call("POST", "jobs/", pb.Job().SerializeToString())
        assert status == 400
        assert emu.faults() == {"drop-after-create": 2}

        emu.set_faults(None)
        jobs = await hub.ok("GET", "jobs/", pb.JobList)
        assert [j.link_job.name for j in jobs.jobs] == ["dropped"]  # the job really exists
        job_id = jobs.jobs[0].link_job.link_job_id
        assert any(m.name == "m2" for m in emu.state.models.values())
    finally:
        await emu.stop()

    # The persisted state is intact and has the dropped-after-create job.
    snapshot = json.loads((tmp_path / "state" / "state.json").read_text())
    assert job_id in {j["job_id"] for j in snapshot["jobs"]}
    again = HubEmulator(config)
    await again.start()
    try:
        job = await Hub(session, again.base_url).ok("GET", f"jobs/{job_id}/", pb.Job)
        assert job.link_job.name == "dropped"
    finally:
        await again.stop()


# ------------------------------------------------------------ rate and seed
async def statuses(emu: HubEmulator, hub: Hub, n: int) -> list[int]:
    return [(await hub.call("GET", "devices/"))[0] for _ in range(n)]


async def test_rate_is_about_right_and_reproducible(emu: HubEmulator, hub: Hub) -> None:
    emu.set_faults(FaultConfig(rate=0.25, seed=42, kinds=("503", "500")))
    first = await statuses(emu, hub, 400)
    faulted = sum(1 for s in first if s != 200)
    assert 60 <= faulted <= 140  # expected 100
    assert {s for s in first if s != 200} == {500, 503}
    assert emu.faults().get("500", 0) + emu.faults().get("503", 0) == faulted
    assert emu.counters()[DEVICES] == 400

    emu.set_faults(FaultConfig(rate=0.25, seed=42, kinds=("503", "500")))  # re-seeded
    assert await statuses(emu, hub, 400) == first
    emu.set_faults(FaultConfig(rate=0.25, seed=43, kinds=("503", "500")))
    assert await statuses(emu, hub, 400) != first


async def test_rate_zero_and_one(emu: HubEmulator, hub: Hub) -> None:
    emu.set_faults(FaultConfig(rate=0.0, kinds=("503",)))
    assert set(await statuses(emu, hub, 20)) == {200}
    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",)))
    assert set(await statuses(emu, hub, 20)) == {503}


# ----------------------------------------------------------------- filters
async def test_only_and_paths_filter(emu: HubEmulator, hub: Hub, session) -> None:
    model_id = await hub.upload("a.dlc", b"abc")
    job_id = (await hub.ok("POST", "jobs/", pb.CreateUpdateResponse, hub.job_body([model_id]))).id
    url = await hub.download_url(model_id)
    rename = pb.JobPublicUpdate(name="x").SerializeToString()

    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",), only=("GET /api/v1/jobs/{job_id}/",)))
    assert (await hub.call("GET", f"jobs/{job_id}/"))[0] == 503
    assert (await hub.call("PATCH", f"jobs/{job_id}/", rename))[0] == 200
    assert (await hub.call("GET", "devices/"))[0] == 200

    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",), only=("POST",)))
    assert (await hub.call("POST", "models/", pb.Model(name="b").SerializeToString()))[0] == 503
    assert (await hub.call("GET", f"jobs/{job_id}/"))[0] == 200

    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",), only=("/api/v1/devices/", "PATCH")))
    assert (await hub.call("GET", "devices/"))[0] == 503
    assert (await hub.call("PATCH", f"jobs/{job_id}/", rename))[0] == 503
    assert (await hub.call("GET", f"jobs/{job_id}/"))[0] == 200

    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",), paths=("/blobs/",)))
    assert (await hub.call("GET", "devices/"))[0] == 200
    async with session.get(url) as resp:
        assert resp.status == 503

    # /_emulator/ is never eligible, whatever the paths say.
    emu.set_faults(FaultConfig(rate=1.0, kinds=("503",), paths=("/",), down=True))
    async with session.get(f"{emu.base_url}/_emulator/health") as resp:
        assert resp.status == 200
    assert emu.faults() == {"503": 5}


# -------------------------------------------------------------------- down
async def test_down_and_back_up(emu: HubEmulator, hub: Hub, session) -> None:
    model_id = await hub.upload("a.dlc", b"abc")
    url = await hub.download_url(model_id)

    emu.set_faults(FaultConfig(down=True))
    for path in ("devices/", "users/auth/user/", f"models/{model_id}/"):
        status, headers, _ = await hub.call("GET", path)
        assert status == 503 and "Retry-After" not in headers
    async with session.get(url) as resp:
        assert resp.status == 503
    async with session.get(f"{emu.base_url}/_emulator/health") as resp:
        assert resp.status == 200

    emu.set_faults(FaultConfig(down=True, retry_after=5))
    status, headers, _ = await hub.call("POST", "models/", pb.Model(name="b").SerializeToString())
    assert status == 503 and headers["Retry-After"] == "5"
    assert emu.faults() == {"down": 5}

    emu.set_faults(FaultConfig())  # back up
    await hub.ok("GET", "devices/", pb.DeviceList)
    async with session.get(url) as resp:
        assert resp.status == 200 and await resp.read() == b"abc"
    assert emu.faults() == {"down": 5}


# ------------------------------------------------------------------ tokens
async def test_revoke_and_restore_token(emu: HubEmulator, session) -> None:
    alice, bob = Hub(session, emu.base_url, "alice"), Hub(session, emu.base_url, "bob")
    email = (await alice.ok("GET", "users/auth/user/", pb.User)).email
    model_id = await alice.upload("a.dlc", b"abc")
    url = await alice.download_url(model_id)

    emu.revoke_token("alice")
    for path in ("users/auth/user/", "devices/", f"models/{model_id}/"):
        status, _, body = await alice.call("GET", path)
        assert status == 401 and json.loads(body) == {"detail": "Invalid token."}
    await bob.ok("GET", "devices/", pb.DeviceList)
    async with session.get(url) as resp:  # signed blob URLs need no token
        assert resp.status == 200
    assert emu.faults() == {"revoked-token": 3}

    assert emu.restore_token("alice") is True
    assert emu.restore_token("alice") is False
    assert (await alice.ok("GET", "users/auth/user/", pb.User)).email == email  # same user
