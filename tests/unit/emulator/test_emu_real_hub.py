"""Where the emulator is exactly as strict as the real Hub and S3: signed part PUTs that carry a
Content-Type, chunked PUTs, ranges past the end, 426, organization-wide listings, listings
without totals or last_updated_time, and the request log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from qai_hub import public_api_pb2 as pb

from aihubd.emulator import EmulatorConfig, FaultConfig, HubEmulator

PROTOBUF = "application/x-protobuf"
DEVICE = pb.Device(name="Snapdragon 8 Elite QRD", os="15")
OPT_IN = {"use_acceleration": "true", "supports_s3_credentials": "true"}


class Raw:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base = session, base
        self.headers = {"Content-Type": PROTOBUF, "Authorization": f"token {token}"}

    async def call(self, method: str, path: str, body: bytes = b"", **params: str) -> tuple[int, bytes]:
        url = f"{self.base}/api/v1/{path}"
        async with self.session.request(method, url, data=body, headers=self.headers, params=params) as resp:
            return resp.status, await resp.read()

    async def ok(self, method: str, path: str, message: type, body: bytes = b"", **params: str):
        status, data = await self.call(method, path, body, **params)
        assert 200 <= status < 300, (status, data)
        return message.FromString(data)

    async def new_model(self, name: str = "a.dlc") -> str:
        body = pb.Model(name=name, model_type=15).SerializeToString()
        return (await self.ok("POST", "models/", pb.CreateUpdateResponse, body)).id

    async def plan(self, model_id: str, size: int) -> pb.FileMultipartUploadURL:
        reply = await self.ok(
            "GET", f"models/{model_id}/multipart_upload/", pb.FileUploadResponse, file_size=str(size), **OPT_IN
        )
        assert reply.WhichOneof("method") == "multipart_url"
        return reply.multipart_url

    async def upload(self, data: bytes, name: str = "a.dlc") -> str:
        model_id = await self.new_model(name)
        plan = await self.plan(model_id, len(data))
        etags = []
        for index, url in enumerate(plan.urls):
            part = data[index * plan.max_part_size : (index + 1) * plan.max_part_size]
            async with self.session.put(url, data=part, skip_auto_headers=["Content-Type"]) as resp:
                assert resp.status == 200
                etags.append(resp.headers["ETag"])
        done = pb.FileMultipartUploadComplete(upload_id=plan.upload_id, etags=etags)
        await self.ok("POST", f"models/{model_id}/multipart_upload/", pb.CreateUpdateResponse, done.SerializeToString())
        return model_id

    async def submit(self, model_id: str, name: str) -> str:
        link = pb.LinkJob(name=name, device=DEVICE)
        link.models.models.append(pb.Model(model_id=model_id))
        body = pb.Job(link_job=link).SerializeToString()
        return (await self.ok("POST", "jobs/", pb.CreateUpdateResponse, body)).id


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _started(config: EmulatorConfig) -> HubEmulator:
    emu = HubEmulator(config)
    await emu.start()
    return emu


async def test_part_put_with_content_type_is_refused_like_s3_v2(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, transfer="url"))
    try:
        raw = Raw(session, emu.base_url, "tok")
        model_id = await raw.new_model()
        (url,) = (await raw.plan(model_id, 4)).urls
        # aiohttp's default for a bytes body is Content-Type: application/octet-stream.
        async with session.put(url, data=b"data") as resp:
            body = await resp.text()
            assert resp.status == 403 and resp.content_type == "application/xml"
            assert "<Error><Code>SignatureDoesNotMatch</Code>" in body
        async with session.put(url, data=b"data", headers={"Content-MD5": "kT5rDr1yjlVu4kx1M4hW3Q=="}) as resp:
            assert resp.status == 403

        async def chunked():  # no Content-Length
            yield b"data"

        async with session.put(url, data=chunked(), skip_auto_headers=["Content-Type"]) as resp:
            assert resp.status == 411 and "<Code>MissingContentLength</Code>" in await resp.text()
        async with session.put(url, data=b"data", skip_auto_headers=["Content-Type"]) as resp:
            assert resp.status == 200 and resp.headers["ETag"]
    finally:
        await emu.stop()


async def test_multipart_mode_splits_into_parts(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, transfer="multipart", part_bytes=4))
    try:
        raw = Raw(session, emu.base_url, "tok")
        model_id = await raw.new_model()
        plan = await raw.plan(model_id, 10)
        assert len(plan.urls) == 3 and plan.max_part_size == 4
        model_id = await raw.upload(b"0123456789")
        assert emu.blob_store.model_path(model_id).read_bytes() == b"0123456789"
    finally:
        await emu.stop()


async def test_range_past_the_end_is_416_with_s3_body(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, transfer="url"))
    try:
        raw = Raw(session, emu.base_url, "tok")
        model_id = await raw.upload(b"0123456789")
        info = await raw.ok("GET", f"models/{model_id}/download/", pb.FileDownloadResponse, **OPT_IN)
        async with session.get(info.url.url, headers={"Range": "bytes=10-"}) as resp:
            assert resp.status == 416 and "<Code>InvalidRange</Code>" in await resp.text()
            assert resp.headers["Content-Range"] == "bytes */10"
        async with session.get(info.url.url, headers={"Range": "bytes=9-"}) as resp:
            assert resp.status == 206 and await resp.read() == b"9"
    finally:
        await emu.stop()


async def test_426_fault(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, faults=FaultConfig(rate=1.0, kinds=("426",))))
    try:
        status, body = await Raw(session, emu.base_url, "tok").call("GET", "users/auth/user/")
        assert status == 426 and "upgrade" in json.loads(body)["detail"].lower()
        assert emu.faults() == {"426": 1}
    finally:
        await emu.stop()


async def test_listing_without_creator_covers_the_organization(session) -> None:
    tokens = ["t-ann:ann@corp.example:corp", "t-bob:bob@corp.example:corp", "t-eve:eve@else.example"]
    emu = await _started(EmulatorConfig(manual=True, tokens=tokens))
    try:
        ann, bob, eve = (Raw(session, emu.base_url, t) for t in ("t-ann", "t-bob", "t-eve"))
        ann_job = await ann.submit(await ann.upload(b"ann model"), "ann's")
        bob_job = await bob.submit(await bob.upload(b"bob model"), "bob's")
        eve_job = await eve.submit(await eve.upload(b"eve model"), "eve's")

        async def listed(raw: Raw, **params: str) -> list[str]:
            reply = await raw.ok("GET", "job_summaries/", pb.JobSummaryList, type="link", **params)
            assert reply.total_query_count == len(reply.job_summaries)
            return [s.link_job_summary.job_id for s in reply.job_summaries]

        assert sorted(await listed(ann)) == sorted([ann_job, bob_job])  # a colleague's job shows up
        assert await listed(ann, creator="ann@corp.example") == [ann_job]
        assert await listed(bob, creator="bob@corp.example") == [bob_job]
        assert await listed(eve) == [eve_job]  # in no organization: only her own
        user = await ann.ok("GET", "users/auth/user/", pb.User)
        assert user.org_id != 0
        assert (await bob.ok("GET", "users/auth/user/", pb.User)).org_id == user.org_id
        assert (await eve.ok("GET", "users/auth/user/", pb.User)).org_id == 0
        # A colleague may read the job, but not rename it.
        assert (await bob.ok("GET", f"jobs/{ann_job}/", pb.Job)).link_job.name == "ann's"
        status, _ = await bob.call("PATCH", f"jobs/{ann_job}/", pb.JobPublicUpdate(name="x").SerializeToString())
        assert status == 403
    finally:
        await emu.stop()


async def test_listings_can_leave_out_totals_and_last_updated_time(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, omit_total_query_count=True, omit_last_updated_time=True))
    try:
        raw = Raw(session, emu.base_url, "tok")
        job_id = await raw.submit(await raw.upload(b"model"), "j")
        summaries = await raw.ok("GET", "job_summaries/", pb.JobSummaryList, type="link")
        # A proto3 scalar: "unset" is absent from the wire, read back as 0 (with one job listed).
        assert "total_query_count" not in {f.name for f, _ in summaries.ListFields()}
        (summary,) = summaries.job_summaries
        assert summary.link_job_summary.job_id == job_id
        assert not summary.link_job_summary.HasField("last_updated_time")
        jobs = await raw.ok("GET", "jobs/", pb.JobList, type="link")
        assert jobs.total_query_count == 0 and len(jobs.jobs) == 1
    finally:
        await emu.stop()
    emu = await _started(EmulatorConfig(manual=True))
    try:
        raw = Raw(session, emu.base_url, "tok")
        await raw.submit(await raw.upload(b"model"), "j")
        summaries = await raw.ok("GET", "job_summaries/", pb.JobSummaryList, type="link")
        assert summaries.total_query_count == 1
        assert summaries.job_summaries[0].link_job_summary.HasField("last_updated_time")
    finally:
        await emu.stop()


async def test_request_log_records_shapes_per_client(session) -> None:
    emu = await _started(EmulatorConfig(manual=True, transfer="url", tokens=["t1:one@x.example", "t2:two@x.example"]))
    try:
        one, two = Raw(session, emu.base_url, "t1"), Raw(session, emu.base_url, "t2")
        await one.upload(b"abc")
        await two.ok("GET", "users/auth/user/", pb.User)
        logged = emu.requests("one@x.example")
        shapes = [(e.method, e.path) for e in logged]
        assert shapes == [
            ("POST", "/api/v1/models/"),
            ("GET", "/api/v1/models/{model_id}/multipart_upload/"),
            ("PUT", "/blobs/{blob_key}"),  # labelled by the user the URL was signed for
            ("POST", "/api/v1/models/{model_id}/multipart_upload/"),
        ]
        plan_get = logged[1]
        assert plan_get.query == {"file_size": "*", "use_acceleration": "true", "supports_s3_credentials": "true"}
        assert "authorization" in plan_get.headers and "content-type" in plan_get.headers
        assert "content-type" not in logged[2].headers and "authorization" not in logged[2].headers
        assert [(e.method, e.path) for e in emu.requests("two@x.example")] == [("GET", "/api/v1/users/auth/user/")]
        async with session.get(f"{emu.base_url}/_emulator/requests", params={"client": "two@x.example"}) as resp:
            (entry,) = (await resp.json())["requests"]
            assert entry["path"] == "/api/v1/users/auth/user/" and entry["status"] == 200
        async with session.delete(f"{emu.base_url}/_emulator/requests") as resp:
            assert resp.status == 200
        assert emu.requests() == []
    finally:
        await emu.stop()
