"""The transfer adapter against a loopback Hub + blob store: every reply variant the official client
reads, the request shapes it sends, and the blob store's faults (expired URLs, S3 XML errors, cut
transfers, 416 on a complete resume). The S3-credentials path runs against moto's S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from aiohttp.test_utils import TestServer
from qai_hub import public_api_pb2 as pb
from transfer_hub import TransferHub

from aihubd.errors import HubError
from aihubd.hub import s3_credentials
from aihubd.hub.blob_errors import TransferExpired
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.hub.transfers import HubTransfers
from aihubd.model import S3Grant

FLAGS = [("use_acceleration", "true"), ("supports_s3_credentials", "true")]
MIB = 1 << 20


def _data(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


@pytest.fixture
async def hub_server() -> AsyncIterator[tuple[TransferHub, str]]:
    state = TransferHub()
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def transfers(hub_server: tuple[TransferHub, str]) -> AsyncIterator[tuple[HubTransfers, list[int]]]:
    """The adapter over a real client's session and API call; the list collects progress reports."""
    _, base = hub_server
    retry = RetryPolicy(attempts=3, base=0.0, cap=0.0)
    client = AiohttpHubClient(HubCredentials(base, base, "t0ken"), retry=retry)
    progress: list[int] = []
    yield HubTransfers(client._call, client._session, retry, progress=lambda _name, n: progress.append(n)), progress
    await client.close()


def _multipart(base: str, gen: int, parts: int, part_size: int, upload_id: str = "up-1") -> pb.FileMultipartUploadURL:
    return pb.FileMultipartUploadURL(
        urls=[f"{base}/blob/part/{gen}/{i}?Signature=s{gen}&Expires=1" for i in range(parts)],
        upload_id=upload_id,
        max_part_size=part_size,
    )


def _download_url(base: str, gen: int) -> pb.FileDownloadURL:
    return pb.FileDownloadURL(url=f"{base}/blob/file/{gen}?Signature=s{gen}", filename="model.bin")


# -- reply variants and request shapes --------------------------------------------------------------


@pytest.mark.parametrize("form", ["wrapper", "bare"])
async def test_multipart_upload_reads_wrapper_and_bare_replies(
    form: str, hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    data = _data(5 * MIB + 123)
    model = tmp_path / "a.dlc"
    model.write_bytes(data)
    state.upload_reply = lambda base, gen: (
        pb.FileUploadResponse(multipart_url=_multipart(base, gen, 3, 2 * MIB))
        if form == "wrapper"
        else _multipart(base, gen, 3, 2 * MIB)  # a Hub that predates supports_s3_credentials
    )
    hub, progress = transfers
    assert await hub.upload_model(model, "a.dlc") == "m1"
    assert b"".join(state.parts[i] for i in range(3)) == data
    assert list(state.completed[0].etags) == ['"etag-0"', '"etag-1"', '"etag-2"']
    assert sum(progress) == len(data)
    info = [r for r in state.requests if r.method == "GET" and r.path.endswith("multipart_upload/")]
    assert info[0].query == [*FLAGS, ("file_size", str(len(data)))]  # the official client's keys and order


@pytest.mark.parametrize("form", ["wrapper", "bare"])
async def test_download_reads_wrapper_and_bare_replies(
    form: str, hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    state.blob = _data(3 * MIB + 7)
    state.download_reply = lambda base, gen: (
        pb.FileDownloadResponse(url=_download_url(base, gen)) if form == "wrapper" else _download_url(base, gen)
    )
    hub, _ = transfers
    target = await hub.target_model_file("m1")
    assert target.filename == "model.bin" and target.credentials is None
    size, digest = await hub.download(target, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == state.blob
    assert (size, digest) == (len(state.blob), hashlib.sha256(state.blob).hexdigest())
    info = [r for r in state.requests if r.path.endswith("/download/")]
    assert info[0].query == FLAGS


async def test_a_single_url_form_upload_is_refused_clearly(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    """The official client uploads models only by multipart URLs or credentials (the form POST of
    ``FileUploadURL`` is its dataset upload): the daemon says so instead of guessing."""
    state, _ = hub_server
    model = tmp_path / "a.dlc"
    model.write_bytes(b"x" * 1000)
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(
        url=pb.FileUploadURL(url=f"{base}/blob/form", file_field_name="file")
    )
    with pytest.raises(HubError, match="single-URL form upload for model m1"):
        await transfers[0].upload_model(model, "a.dlc")
    assert not [r for r in state.requests if r.path.startswith("/blob/")]


async def test_part_puts_carry_no_content_type_and_a_length(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    model = tmp_path / "a.dlc"
    model.write_bytes(_data(3 * MIB))
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(multipart_url=_multipart(base, gen, 2, 2 * MIB))
    await transfers[0].upload_model(model, "a.dlc")
    puts = [r for r in state.requests if r.method == "PUT"]
    assert len(puts) == 2
    for put in puts:
        names = {k.lower() for k in put.headers}
        assert "content-type" not in names  # an S3 V2 signature covers it: the official client sends none
        assert "authorization" not in names and "transfer-encoding" not in names
    assert [int(p.headers["Content-Length"]) for p in puts] == [2 * MIB, MIB]


async def test_part_puts_follow_no_redirect(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    model = tmp_path / "a.dlc"
    model.write_bytes(_data(1000))
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(
        multipart_url=pb.FileMultipartUploadURL(
            urls=[f"{base}/blob/moved/0?Signature=x"], upload_id="u", max_part_size=0
        )
    )
    with pytest.raises(HubError, match="307"):
        await transfers[0].upload_model(model, "a.dlc")
    assert [r.path for r in state.requests if r.method == "PUT"] == ["/blob/moved/0"]  # the Location not followed


# -- expired URLs, S3 errors, resumes ------------------------------------------------------------------


async def test_expired_part_url_fetches_a_fresh_plan_and_resumes(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    data = _data(5 * MIB)
    model = tmp_path / "a.dlc"
    model.write_bytes(data)
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(multipart_url=_multipart(base, gen, 3, 2 * MIB))
    state.expired_parts = {(1, 1)}  # the first plan's second URL has expired
    await transfers[0].upload_model(model, "a.dlc")
    assert state.asks == 2  # a fresh plan was asked for
    puts = [r.path for r in state.requests if r.method == "PUT"]
    assert puts == ["/blob/part/1/0", "/blob/part/1/1", "/blob/part/2/1", "/blob/part/2/2"]  # part 0 not again
    assert b"".join(state.parts[i] for i in range(3)) == data


async def test_expired_download_url_fetches_a_fresh_one_and_resumes(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    state.blob = _data(2 * MIB)
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(url=_download_url(base, gen))
    state.cut_after = [MIB // 2]
    state.expire_on_cut = True  # the retry of the cut transfer meets a 403: the URL expired meanwhile
    hub, _ = transfers
    size, _ = await hub.download(await hub.target_model_file("m1"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == state.blob and size == len(state.blob)
    gets = [(r.path, r.headers.get("Range")) for r in state.requests if r.path.startswith("/blob/")]
    assert gets == [
        ("/blob/file/1", None),
        ("/blob/file/1", f"bytes={MIB // 2}-"),  # 403
        ("/blob/file/2", f"bytes={MIB // 2}-"),  # the fresh URL, resumed where it stood
    ]


async def test_416_on_a_resume_with_every_byte_there_completes(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    state.blob = _data(MIB + 5)
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(url=_download_url(base, gen))
    state.short_by = 10  # every byte sent, but the connection drops as if 10 more were coming
    hub, _ = transfers
    size, digest = await hub.download(await hub.target_model_file("m1"), tmp_path / "out")
    assert (size, digest) == (len(state.blob), hashlib.sha256(state.blob).hexdigest())
    assert (tmp_path / "out").read_bytes() == state.blob
    ranges = [r.headers.get("Range") for r in state.requests if r.path.startswith("/blob/")]
    assert ranges == [None, f"bytes={len(state.blob)}-"]  # the resume got 416 bytes */N and stopped there


async def test_a_403_that_persists_reports_the_s3_error_without_the_signature(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    state.blob = _data(1000)
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(url=_download_url(base, gen))
    state.expired_generations = set(range(1, 100))
    hub, _ = transfers
    with pytest.raises(HubError) as info:
        await hub.download(await hub.target_model_file("m1"), tmp_path / "out")
    text = str(info.value)
    assert "AccessDenied: Request has expired" in text  # S3's XML error body, read
    assert "Signature" not in text and "?" not in text
    assert state.asks == 4  # the first answer and three fresh ones, then it gives up


async def test_part_bodies_stream_from_disk(
    hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    size = 48 * MIB
    model = tmp_path / "big.dlc"
    with model.open("wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    state.hash_parts_only = True
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(multipart_url=_multipart(base, gen, 1, size))
    tracemalloc.start()
    try:
        await transfers[0].upload_model(model, "big.dlc")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.part_sizes == {0: size}
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB for a {size // MIB} MiB part: not streamed"


# -- S3 credentials (moto) ---------------------------------------------------------------------------


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # botocore's own variable
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    import botocore.session

    s3: Any = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    s3.create_bucket(Bucket="hub-models")
    yield endpoint
    server.stop()


def _grant(key: str, filename: str = "") -> pb.S3Credentials:
    return pb.S3Credentials(
        access_key_id="AKIACANARYKEY",
        secret_access_key="canary-secret-key",
        session_token="canary-session-token",
        bucket="hub-models",
        key=key,
        region="us-east-1",
        filename=filename,
    )


async def test_credentials_upload_and_download_through_s3(
    moto_s3: str,
    hub_server: tuple[TransferHub, str],
    transfers: tuple[HubTransfers, list[int]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, botocore's (which prints signed headers) too
    state, _ = hub_server
    data = _data(3 * MIB + 11)
    model = tmp_path / "a.dlc"
    model.write_bytes(data)
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(credentials=_grant("models/m1/a.dlc"))
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(credentials=_grant("models/m1/a.dlc", "a.dlc"))
    hub, progress = transfers
    assert await hub.upload_model(model, "a.dlc") == "m1"
    assert state.confirmed == 1 and not state.completed  # upload_complete, as the official client does
    assert sum(progress) == len(data)
    target = await hub.target_model_file("m1")
    assert target.url == "" and target.filename == "a.dlc" and "canary" not in repr(target)
    size, digest = await hub.download(target, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert not [r for r in state.requests if r.path.startswith("/blob/")]  # S3 itself, not a URL
    secrets = ("AKIACANARYKEY", "canary-secret-key", "canary-session-token")
    assert not [k for k, v in os.environ.items() if any(s in v for s in secrets)]  # never what children inherit
    assert caplog.records and not [s for s in secrets if s in caplog.text]  # never logged, even at DEBUG


async def test_s3_errors_never_carry_the_credentials(
    moto_s3: str, hub_server: tuple[TransferHub, str], transfers: tuple[HubTransfers, list[int]], tmp_path: Path
) -> None:
    state, _ = hub_server
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(credentials=_grant("models/none", "x.bin"))
    hub, _ = transfers
    with pytest.raises(HubError) as info:  # no such object in S3
        await hub.download(await hub.target_model_file("m1"), tmp_path / "out")
    assert "404" in str(info.value) and "out" in str(info.value)
    grant = S3Grant("AKIACANARYKEY", "canary-secret-key", "canary-session-token", "hub-models", "k")
    response: Any = {
        "Error": {
            "Code": "InvalidAccessKeyId",
            "Message": "The key AKIACANARYKEY with canary-session-token is bad",
        },
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    echoed = botocore.exceptions.ClientError(response, "GetObject")
    translated = s3_credentials._translate(echoed, grant, "x.bin")
    assert isinstance(translated, TransferExpired)  # a 403 from S3: ask the Hub for fresh credentials
    assert "AKIACANARYKEY" not in str(translated) and "canary-session-token" not in str(translated)
    assert "InvalidAccessKeyId" in str(translated)


async def test_expired_credentials_fetch_fresh_ones(
    moto_s3: str,
    hub_server: tuple[TransferHub, str],
    transfers: tuple[HubTransfers, list[int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, _ = hub_server
    data = _data(MIB + 3)
    model = tmp_path / "a.dlc"
    model.write_bytes(data)
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(credentials=_grant(f"models/m1/{gen}.dlc"))
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(credentials=_grant("models/m1/2.dlc", "a.dlc"))
    real_upload = s3_credentials.s3_upload
    keys: list[str] = []

    async def expiring_upload(grant: S3Grant, path: Path, content_type: str, **kwargs: object) -> None:
        keys.append(grant.key)
        if grant.key.endswith("/1.dlc"):  # the first credentials expired before the upload began
            raise TransferExpired("S3 refused the Hub's credentials (ExpiredToken: expired)", 403)
        await real_upload(grant, path, content_type, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("aihubd.hub.transfers.s3_upload", expiring_upload)
    hub, _ = transfers
    assert await hub.upload_model(model, "a.dlc") == "m1"
    assert keys == ["models/m1/1.dlc", "models/m1/2.dlc"] and state.confirmed == 1
    await hub.download(await hub.target_model_file("m1"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


async def test_cancelling_a_credentials_download_stops_its_worker_thread(
    moto_s3: str,
    hub_server: tuple[TransferHub, str],
    transfers: tuple[HubTransfers, list[int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, _ = hub_server
    data = _data(3 * MIB)
    model = tmp_path / "a.dlc"
    model.write_bytes(data)
    state.upload_reply = lambda base, gen: pb.FileUploadResponse(credentials=_grant("models/m1/a.dlc"))
    state.download_reply = lambda base, gen: pb.FileDownloadResponse(credentials=_grant("models/m1/a.dlc", "a.dlc"))
    hub, _ = transfers
    await hub.upload_model(model, "a.dlc")

    moving, cancelled = threading.Event(), threading.Event()
    real_progress, real_cancel = s3_credentials._Progress.on_progress, s3_credentials._Cancel.cancel

    def held_progress(self: s3_credentials._Progress, future: object, bytes_transferred: int, **kw: object) -> None:
        moving.set()
        cancelled.wait(30)  # the worker thread holds here until the cancellation reached s3transfer
        real_progress(self, future, bytes_transferred, **kw)  # type: ignore[arg-type]

    def cancel(self: s3_credentials._Cancel) -> None:
        real_cancel(self)
        cancelled.set()

    monkeypatch.setattr(s3_credentials._Progress, "on_progress", held_progress)
    monkeypatch.setattr(s3_credentials._Cancel, "cancel", cancel)
    out = tmp_path / "dl" / "out"
    out.parent.mkdir()
    task = asyncio.create_task(hub.download(await hub.target_model_file("m1"), out))
    assert await asyncio.get_running_loop().run_in_executor(None, moving.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    assert not out.exists() and list(out.parent.iterdir()) == []  # s3transfer removed its temp file
