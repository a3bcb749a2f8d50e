"""The emulator over raw HTTP: content types, errors, signatures, Range, timing, admin, persistence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import botocore.session
import pytest
from botocore.exceptions import ClientError
from google.protobuf.message import DecodeError
from qai_hub import public_api_pb2 as pb

from aihubd.emulator import EmulatorConfig, HubEmulator
from aihubd.emulator.records import CREATED, DONE, FAILED, LINKING_MODELS

PROTOBUF = "application/x-protobuf"
DEVICE = pb.Device(name="Snapdragon 8 Elite QRD", os="15")
OPT_IN = {"use_acceleration": "true", "supports_s3_credentials": "true"}


def s3_client(endpoint: str, creds: pb.S3Credentials) -> Any:
    """A botocore S3 client with the handed-out credentials, on the emulator's endpoint."""
    return botocore.session.get_session().create_client(
        "s3",
        region_name=creds.region,
        endpoint_url=endpoint,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )


class RawHub:
    """A tiny protocol-level client for the tests."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.session = session
        self.base = base_url
        self.headers = {"Content-Type": PROTOBUF}
        if token is not None:
            self.headers["Authorization"] = f"token {token}"

    async def call(self, method: str, path: str, body: bytes = b"", **params: str) -> tuple[int, str, bytes]:
        url = f"{self.base}/api/v1/{path}"
        request = self.session.request(method, url, data=body, headers=self.headers, params=params)
        async with request as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()

    async def ok(self, method: str, path: str, message: type, body: bytes = b"", **params: str):
        status, ctype, data = await self.call(method, path, body, **params)
        assert 200 <= status < 300, (status, data)
        assert ctype == PROTOBUF
        return message.FromString(data)

    async def upload(self, name: str, data: bytes) -> str:
        created = await self.ok(
            "POST", "models/", pb.CreateUpdateResponse, pb.Model(name=name, model_type=15).SerializeToString()
        )
        info = await self.ok(
            "GET",
            f"models/{created.id}/multipart_upload/",
            pb.FileUploadResponse,
            use_acceleration="true",
            supports_s3_credentials="true",
            file_size=str(len(data)),
        )
        assert info.WhichOneof("method") == "multipart_url"
        (url,) = info.multipart_url.urls
        # As the official client: no Content-Type on the part (the URL is not signed with one).
        async with self.session.put(url, data=data, skip_auto_headers=["Content-Type"]) as resp:
            assert resp.status == 200
            etag = resp.headers["ETag"]
        done = pb.FileMultipartUploadComplete(upload_id=info.multipart_url.upload_id, etags=[etag])
        reply = await self.ok(
            "POST", f"models/{created.id}/multipart_upload/", pb.CreateUpdateResponse, done.SerializeToString()
        )
        assert reply.id == created.id
        return created.id

    async def submit(self, model_ids: list[str], name: str = "job") -> str:
        link = pb.LinkJob(name=name, device=DEVICE)
        link.models.models.extend(pb.Model(model_id=m) for m in model_ids)
        reply = await self.ok(
            "POST",
            "jobs/",
            pb.CreateUpdateResponse,
            pb.Job(link_job=link).SerializeToString(),
            seed_target_model="true",
        )
        return reply.id

    async def artifacts(self, job_id: str, artifact_type: int) -> pb.NamedArtifactDownloadURLList:
        path = f"jobs/{job_id}/device_runs/latest/artifact_list/{artifact_type}/"
        return await self.ok("GET", path, pb.NamedArtifactDownloadURLList, **OPT_IN)

    async def download_info(self, model_id: str) -> pb.FileDownloadResponse:
        """The download reply the official client asks for (opted in to credentials)."""
        return await self.ok("GET", f"models/{model_id}/download/", pb.FileDownloadResponse, **OPT_IN)

    async def job(self, job_id: str) -> pb.LinkJob:
        return (await self.ok("GET", f"jobs/{job_id}/", pb.Job)).link_job


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def manual(session) -> AsyncIterator[tuple[HubEmulator, RawHub]]:
    emu = HubEmulator(EmulatorConfig(manual=True))
    await emu.start()
    try:
        yield emu, RawHub(session, emu.base_url, "tok")
    finally:
        await emu.stop()


async def test_protobuf_content_type_everywhere(manual) -> None:
    emu, hub = manual
    assert emu.base_url.startswith("http://127.0.0.1:") and not emu.base_url.endswith("/")
    user = await hub.ok("GET", "users/auth/user/", pb.User)
    assert user.email.endswith("@emulator.invalid")
    devices = await hub.ok("GET", "devices/", pb.DeviceList, name="", os="", select="True")
    assert len(devices.devices) == 1
    job_id = await hub.submit([await hub.upload("a.dlc", b"abc" * 10)])
    await hub.ok("GET", "jobs/", pb.JobList)
    await hub.ok("GET", "job_summaries/", pb.JobSummaryList)
    rename = pb.JobPublicUpdate(name="x").SerializeToString()
    await hub.ok("PATCH", f"jobs/{job_id}/", pb.CreateUpdateResponse, rename)
    await hub.ok("GET", f"jobs/{job_id}/shared_access/", pb.SharedAccess)
    await hub.ok("DELETE", f"jobs/{job_id}/shared_access/", pb.CreateUpdateResponse)
    await hub.artifacts(job_id, 5)


async def test_json_errors(manual, session) -> None:
    emu, hub = manual
    cases = [
        (RawHub(session, emu.base_url, None), "GET", "devices/", b"", 401),
        (RawHub(session, emu.base_url, ""), "GET", "devices/", b"", 401),
        (hub, "GET", "jobs/jnothere1/", b"", 404),
        (hub, "GET", "models/mnothere1/", b"", 404),
        (hub, "GET", "no/such/route/", b"", 404),
        (hub, "POST", "models/", b"\xff\xff\xff", 400),
        (hub, "POST", "jobs/", pb.Job().SerializeToString(), 400),
        (hub, "GET", "job_summaries/?state=x", b"", 400),
        (hub, "GET", "jobs/?type=bogus", b"", 400),
    ]
    for client, method, path, body, expected in cases:
        status, ctype, data = await client.call(method, path, body)
        assert status == expected, (path, status, data)
        assert ctype.startswith("application/json")
        assert isinstance(json.loads(data)["detail"], str)


async def test_bad_job_requests(manual) -> None:
    _, hub = manual
    model_id = await hub.upload("a.dlc", b"x" * 5)
    link = pb.LinkJob(name="j", device=pb.Device(name="Unknown"))
    link.models.models.append(pb.Model(model_id=model_id))
    status, _, data = await hub.call("POST", "jobs/", pb.Job(link_job=link).SerializeToString())
    assert status == 400 and b"not available" in data
    link.device.name = "Apple iPhone 15 Pro"
    status, _, data = await hub.call("POST", "jobs/", pb.Job(link_job=link).SerializeToString())
    assert status == 400 and b"does not support QNN" in data
    status, _, data = await hub.call(
        "PATCH", "jobs/jnothere1/shared_access/", pb.SharedAccessChange(add_email=["a@b"]).SerializeToString()
    )
    assert status == 404


async def test_upload_complete_reads_the_object_back_from_s3(session) -> None:
    emu = HubEmulator(EmulatorConfig(manual=True, transfer="credentials"))
    await emu.start()
    try:
        hub = RawHub(session, emu.base_url, "tok")
        created = await hub.ok(
            "POST",
            "projects/pX/models/",
            pb.CreateUpdateResponse,
            pb.Model(name="c.dlc", model_type=15).SerializeToString(),
        )
        path = f"models/{created.id}/multipart_upload/"
        info = await hub.ok("GET", path, pb.FileUploadResponse, file_size="4", **OPT_IN)
        assert info.WhichOneof("method") == "credentials"
        creds = info.credentials
        assert creds.key and creds.bucket and creds.session_token and creds.expiration.seconds > 0
        # Nothing uploaded yet: completing is refused, and the model stays without a file.
        status, _, data = await hub.call("POST", f"models/{created.id}/upload_complete/")
        assert status == 400 and b"No file was uploaded" in data
        assert emu.s3_endpoint_url is not None
        client = s3_client(emu.s3_endpoint_url, creds)
        await asyncio.to_thread(client.put_object, Bucket=creds.bucket, Key=creds.key, Body=b"data")
        reply = await hub.ok("POST", f"models/{created.id}/upload_complete/", pb.CreateUpdateResponse)
        assert reply.id == created.id
        model = await hub.ok("GET", f"models/{created.id}/", pb.Model)
        assert model.file_upload_complete and model.project_id == "pX" and model.name == "c.dlc"
        assert emu.blob_store.model_path(created.id).read_bytes() == b"data"
        # Downloads of the model come back by credentials too, from the same endpoint.
        down = await hub.download_info(created.id)
        assert down.WhichOneof("method") == "credentials" and down.credentials.filename == "c.dlc"
        # The upload's credentials cover only the upload's object.
        with pytest.raises(ClientError, match="AccessDenied"):
            await asyncio.to_thread(client.get_object, Bucket=down.credentials.bucket, Key=down.credentials.key)
        reader = s3_client(emu.s3_endpoint_url, down.credentials)
        got = await asyncio.to_thread(reader.get_object, Bucket=down.credentials.bucket, Key=down.credentials.key)
        assert got["Body"].read() == b"data"
    finally:
        await emu.stop()


async def test_s3_credentials_are_one_object_with_their_token_until_they_expire(session, clock) -> None:
    emu = HubEmulator(EmulatorConfig(manual=True, transfer="credentials", credentials_ttl_seconds=900), clock=clock)
    await emu.start()
    try:
        hub = RawHub(session, emu.base_url, "tok")
        created = await hub.ok(
            "POST", "models/", pb.CreateUpdateResponse, pb.Model(name="c.dlc", model_type=15).SerializeToString()
        )
        path = f"models/{created.id}/multipart_upload/"
        creds = (await hub.ok("GET", path, pb.FileUploadResponse, file_size="4", **OPT_IN)).credentials
        assert creds.expiration.seconds == int(clock() + 900)
        assert emu.s3_endpoint_url is not None
        client = s3_client(emu.s3_endpoint_url, creds)

        async def put(c: Any, key: str) -> str:
            try:
                await asyncio.to_thread(c.put_object, Bucket=creds.bucket, Key=key, Body=b"data")
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "ok"

        assert await put(client, creds.key + "-elsewhere") == "AccessDenied"
        wrong_token = pb.S3Credentials()
        wrong_token.CopyFrom(creds)
        wrong_token.session_token = "not-the-token"
        assert await put(s3_client(emu.s3_endpoint_url, wrong_token), creds.key) == "InvalidToken"
        unknown = pb.S3Credentials()
        unknown.CopyFrom(creds)
        unknown.access_key_id = "ASIAUNKNOWN000000000"
        assert await put(s3_client(emu.s3_endpoint_url, unknown), creds.key) == "InvalidAccessKeyId"
        # A test may let canary keys stand in for a handed-out credential (admin route).
        alias = {"access_key_id": unknown.access_key_id, "session_token": unknown.session_token, "like": "ASIANONE"}
        async with session.post(f"{emu.base_url}/_emulator/s3/aliases", json=alias) as resp:
            assert (await resp.json()) == {"aliased": False}
        alias["like"] = creds.access_key_id
        async with session.post(f"{emu.base_url}/_emulator/s3/aliases", json=alias) as resp:
            assert (await resp.json()) == {"aliased": True}
        assert await put(s3_client(emu.s3_endpoint_url, unknown), creds.key) == "ok"
        clock.tick(899)
        assert await put(client, creds.key) == "ok"
        clock.tick(1)
        assert await put(client, creds.key) == "ExpiredToken"
    finally:
        await emu.stop()


async def test_without_the_flag_the_replies_are_the_bare_legacy_messages(manual, session) -> None:
    emu, hub = manual
    created = await hub.ok(
        "POST", "models/", pb.CreateUpdateResponse, pb.Model(name="l.dlc", model_type=15).SerializeToString()
    )
    path = f"models/{created.id}/multipart_upload/"
    plan = await hub.ok("GET", path, pb.FileMultipartUploadURL, file_size="5", use_acceleration="false")
    (url,) = plan.urls
    assert plan.upload_id and plan.max_part_size == 5
    async with session.put(url, data=b"hello", skip_auto_headers=["Content-Type"]) as resp:
        etag = resp.headers["ETag"]
    done = pb.FileMultipartUploadComplete(upload_id=plan.upload_id, etags=[etag])
    await hub.ok("POST", path, pb.CreateUpdateResponse, done.SerializeToString())
    bare = await hub.ok("GET", f"models/{created.id}/download/", pb.FileDownloadURL, use_acceleration="false")
    assert bare.filename == "l.dlc" and bare.url.startswith(emu.base_url + "/blobs/")
    # A wrapper parser reads the bare reply as garbage: field 1 (url) of FileDownloadURL is a
    # string, where FileDownloadResponse's field 1 is a message.
    status, _, data = await hub.call("GET", f"models/{created.id}/download/")
    assert status == 200
    with pytest.raises(DecodeError):
        pb.FileDownloadResponse.FromString(data)
    async with session.get(bare.url) as resp:
        assert resp.status == 200 and await resp.read() == b"hello"


async def test_failed_job_has_no_target(manual) -> None:
    emu, hub = manual
    model_id = await hub.upload("a.dlc", b"x" * 5)
    job_id = await hub.submit([model_id, model_id])
    job = await hub.job(job_id)
    assert not job.HasField("target_model") and job.job_state == CREATED
    assert await emu.advance(job_id) == LINKING_MODELS
    assert await emu.advance(job_id) == FAILED
    job = await hub.job(job_id)
    assert job.job_state == FAILED and "listed more than once" in job.failure_reason
    assert not job.HasField("target_model") and job.HasField("completion_time")


async def test_target_download_only_when_done(manual, session) -> None:
    emu, hub = manual
    job_id = await hub.submit([await hub.upload("a.dlc", b"hello" * 100)])
    job = await hub.job(job_id)
    target = job.target_model
    assert target.model_type == 11 and target.producer_id == job_id
    assert target.name == f"job_{job_id}_optimized_bin"
    status, _, data = await hub.call("GET", f"models/{target.model_id}/download/")
    assert status == 404 and b"detail" in data
    listing = await hub.artifacts(job_id, 1)
    assert list(listing.artifacts) == []
    await emu.advance(job_id)
    await emu.advance(job_id)
    job_pb = await hub.ok("GET", f"jobs/{job_id}/", pb.Job)
    assert list(job_pb.available_artifacts) == [1, 5]
    info = await hub.download_info(target.model_id)
    assert info.url.filename == f"job_{job_id}_optimized_bin.bin"
    assert "&Signature=" in info.url.url and info.url.url.startswith(emu.base_url + "/blobs/")
    async with session.get(info.url.url) as resp:
        assert resp.status == 200
        full = await resp.read()
    assert full == emu.blob_store.model_path(target.model_id).read_bytes()
    async with session.get(info.url.url, headers={"Range": "bytes=4-13"}) as resp:
        assert resp.status == 206 and await resp.read() == full[4:14]
    async with session.get(info.url.url.replace("&Signature=", "&Signature=0")) as resp:
        assert resp.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in await resp.read()
    async with session.get(info.url.url.split("?")[0]) as resp:
        assert resp.status == 403
    listing = await hub.artifacts(job_id, 5)
    (artifact,) = listing.artifacts
    assert artifact.filename == f"{job_id}_hub.log" and not artifact.HasField("credentials")
    async with session.get(artifact.url) as resp:
        assert b"link SUCCEEDED" in await resp.read()


async def test_signed_urls_expire(session, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    emu = HubEmulator(EmulatorConfig(manual=True, url_ttl_seconds=60), clock=lambda: now[0])
    await emu.start()
    try:
        hub = RawHub(session, emu.base_url, "tok")
        model_id = await hub.upload("a.dlc", b"data")
        info = await hub.download_info(model_id)
        now[0] += 61
        async with session.get(info.url.url) as resp:
            assert resp.status == 403 and b"expired" in await resp.read()
    finally:
        await emu.stop()


async def test_automatic_timing_with_a_fake_clock(session) -> None:
    now = [1_800_000_000.0]
    emu = HubEmulator(EmulatorConfig(link_seconds=2.0), clock=lambda: now[0])
    await emu.start()
    try:
        hub = RawHub(session, emu.base_url, "tok")
        job_id = await hub.submit([await hub.upload("a.dlc", b"abc")])
        created = now[0]

        async def summary_state() -> int:
            summaries = await hub.ok("GET", "job_summaries/", pb.JobSummaryList, type="link")
            return summaries.job_summaries[0].link_job_summary.job_state

        assert (await hub.job(job_id)).job_state == CREATED and await summary_state() == CREATED
        now[0] += 1.0
        assert await summary_state() == LINKING_MODELS
        job = await hub.job(job_id)
        assert job.job_state == LINKING_MODELS
        assert job.start_time.ToNanoseconds() == int((created + 1) * 1e9)
        now[0] += 5.0
        job = await hub.job(job_id)
        assert job.job_state == DONE and job.completion_time.ToNanoseconds() == int((created + 2) * 1e9)
        assert job.last_updated_time == job.completion_time
    finally:
        await emu.stop()


async def test_admin_endpoints_and_counters(manual, session) -> None:
    emu, hub = manual
    job_id = await hub.submit([await hub.upload("a.dlc", b"abc")])
    base = emu.base_url
    async with session.get(f"{base}/_emulator/health") as resp:
        assert (await resp.json())["status"] == "ok"
    async with session.post(f"{base}/_emulator/jobs/{job_id}/advance") as resp:
        expected = {"job_id": job_id, "state": LINKING_MODELS, "state_name": "LINKING_MODELS"}
        assert await resp.json() == expected
    async with session.post(f"{base}/_emulator/jobs/jnothere1/advance") as resp:
        assert resp.status == 404 and "detail" in await resp.json()
    async with session.get(f"{base}/_emulator/counters") as resp:
        counters = await resp.json()
    assert counters == emu.counters()
    assert counters["POST /api/v1/models/"] == 1
    assert counters["PUT /blobs/{blob_key}"] == 1
    assert counters["POST /api/v1/jobs/"] == 1
    assert not any("_emulator" in key for key in counters)
    await hub.job(job_id)
    await hub.call("GET", "jobs/jnothere1/")
    async with session.get(f"{base}/_emulator/counters/jobs") as resp:
        assert await resp.json() == {job_id: 1, "jnothere1": 1}
    async with session.post(f"{base}/_emulator/counters/reset") as resp:
        assert resp.status == 200
    assert emu.counters() == {} and emu.job_get_counts() == {}


async def test_state_dir_survives_a_restart(session, tmp_path: Path) -> None:
    config = EmulatorConfig(manual=True, state_dir=tmp_path / "state")
    first = HubEmulator(config)
    await first.start()
    hub = RawHub(session, first.base_url, "tok")
    job_id = await hub.submit([await hub.upload("a.dlc", b"abc" * 3)])
    await first.advance(job_id)
    await first.advance(job_id)
    target_id = (await hub.job(job_id)).target_model.model_id
    await first.stop()
    assert (tmp_path / "state" / "state.json").is_file()

    second = HubEmulator(config)
    await second.start()
    try:
        hub = RawHub(session, second.base_url, "tok")
        job = await hub.job(job_id)
        assert job.job_state == DONE and job.target_model.model_id == target_id
        info = await hub.download_info(target_id)
        async with session.get(info.url.url) as resp:
            assert resp.status == 200
            assert await resp.read() == second.blob_store.model_path(target_id).read_bytes()
        other = RawHub(session, second.base_url, "someone-else")
        assert (await other.call("GET", f"jobs/{job_id}/"))[0] == 404
    finally:
        await second.stop()
