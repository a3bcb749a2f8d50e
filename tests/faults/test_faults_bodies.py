"""Bad artifact bodies (issue 11, item 3): a blob URL answering 200 with an HTML page, a chunked
body cut short with a well-formed end, a body shorter than the object, a body whose bytes do not
match S3's ETag. None is delivered or cached (UNAVAILABLE: Hub trouble); once the blob store
behaves, the right bytes are delivered. The emulator serves the bad bodies (``blob_replies``)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aihubd.emulator import EmulatorConfig, FaultConfig, HubEmulator
from aihubd.errors import HubUnavailable
from aihubd.hub import s3_credentials
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.model import JobState
from aihubd.services.artifacts import ArtifactService
from aihubd.services.jobs import JobService
from aihubd.store.artifacts import TARGET_MODEL, ArtifactIndex
from aihubd.store.blobs import BlobStore
from aihubd.store.database import Database
from aihubd.store.deliveries import DeliveryJournal
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

TOKEN = "bodies-test-token"
BLOB_GETS = ("GET /blobs/{blob_key}",)


@dataclasses.dataclass
class Stack:
    emulator: HubEmulator
    hub: AiohttpHubClient
    index: ArtifactIndex
    blobs: BlobStore
    artifacts: ArtifactService
    jobs: JobService
    tmp: Path

    async def done_job(self) -> tuple[str, bytes]:
        """A finished link job; its id and its target model's bytes as the Hub holds them."""
        dlc = self.tmp / "in.dlc"
        dlc.write_bytes(bytes(range(256)) * 3000)
        model_id = await self.hub.upload_model(dlc, "in.dlc")
        device = (await self.hub.list_devices())[0]
        job_id = await self.hub.create_link_job([model_id], device, "bodies", "")
        for _ in range(10):
            if (await self.hub.get_job(job_id)).state == JobState.DONE:
                break
            await self.emulator.advance(job_id)
        job = await self.jobs.get(job_id)
        assert job.state == JobState.DONE and job.target_model_id
        return job_id, self.emulator.blob_store.model_path(job.target_model_id).read_bytes()

    def cached_blobs(self) -> list[Path]:
        return [p for p in self.blobs.root.rglob("*") if p.is_file()]


async def _stack(
    tmp_path: Path, config: EmulatorConfig, monkeypatch: pytest.MonkeyPatch | None = None
) -> AsyncIterator[Stack]:
    emulator = HubEmulator(config)
    await emulator.start()
    if monkeypatch is not None and emulator.s3_endpoint_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", emulator.s3_endpoint_url)  # botocore's own variable
    hub = AiohttpHubClient(
        HubCredentials(emulator.base_url, emulator.base_url, TOKEN),
        retry=RetryPolicy(attempts=2, base=0.001, cap=0.001),
    )
    db = await Database.open(tmp_path / "aihubd.db")
    store = JobStore(db)
    notifier = Notifier()
    poller = Poller(hub, store, notifier, Schedule(Cadence(base=3600, cap=3600)))
    jobs = JobService(hub, store, notifier, poller, keepalive=3600)
    index = ArtifactIndex(db)
    blobs = BlobStore(tmp_path / "cache")
    artifacts = ArtifactService(hub, jobs, index, blobs, DeliveryJournal(db), cap_bytes=1 << 30, prefetch=False)
    try:
        yield Stack(emulator, hub, index, blobs, artifacts, jobs, tmp_path)
    finally:
        await artifacts.close()
        await db.close()
        await hub.close()
        await emulator.stop()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in _stack(tmp_path, EmulatorConfig(manual=True, state_dir=tmp_path / "emu")):
        yield s


@pytest.mark.parametrize("kind", ["html-body", "chunked-cut", "short-body", "corrupt-body"])
async def test_a_bad_body_is_never_delivered_nor_cached(stack: Stack, kind: str) -> None:
    job_id, expected = await stack.done_job()
    dest = stack.tmp / "target.bin"
    stack.emulator.set_faults(FaultConfig(rate=1.0, kinds=(kind,), only=BLOB_GETS))
    with pytest.raises(HubUnavailable):
        await stack.artifacts.download_target_model(job_id, str(dest))
    assert stack.emulator.faults().get(kind, 0) >= 1  # the bad body was served
    assert not dest.exists()
    assert await stack.index.files(job_id, TARGET_MODEL) == []
    assert stack.cached_blobs() == []  # the temp file was discarded, nothing committed
    stack.emulator.set_faults(FaultConfig())  # the blob store recovers
    paths, _job = await stack.artifacts.download_target_model(job_id, str(dest))
    assert Path(paths[0]).read_bytes() == expected


async def test_a_cut_chunked_body_of_a_multipart_object_is_checked_by_range(stack: Stack) -> None:
    """An uploaded model's ETag is multipart (``…-N``: no MD5) and a chunked reply states no size:
    the daemon asks for the bytes past what came (S3 answers 206 with the rest and the size, or 416
    with the size) instead of taking the half it got as the whole."""
    dlc = stack.tmp / "up.dlc"
    dlc.write_bytes(bytes(range(251)) * 4100)
    model_id = await stack.hub.upload_model(dlc, "up.dlc")
    stack.emulator.set_faults(FaultConfig(rate=1.0, kinds=("chunked-cut",), only=BLOB_GETS))
    with pytest.raises(HubUnavailable, match="ended at"):  # the ranged ask stated the size
        await stack.artifacts.download_model(model_id, str(stack.tmp / "got.dlc"))
    assert not (stack.tmp / "got.dlc").exists() and stack.cached_blobs() == []
    # One cut reply, then a good one: the range brings the rest.
    stack.emulator.set_faults(FaultConfig(rate=0.5, seed=1, kinds=("chunked-cut",), only=BLOB_GETS))
    paths = await stack.artifacts.download_model(model_id, str(stack.tmp / "got.dlc"))
    assert stack.emulator.faults()["chunked-cut"] >= 2
    assert Path(paths[0]).read_bytes() == dlc.read_bytes()


@pytest.fixture
async def s3_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    config = EmulatorConfig(manual=True, state_dir=tmp_path / "emu", transfer="credentials")
    async for s in _stack(tmp_path, config, monkeypatch):
        yield s


async def test_an_s3_body_that_does_not_match_its_etag_is_not_cached(
    s3_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credentials path: the bytes s3transfer wrote are checked against ``head_object``'s ETag
    (a single-part object: its MD5). A transfer that wrote other bytes (here, one flipped after
    s3transfer finished) is Hub trouble, and nothing is cached."""
    job_id, expected = await s3_stack.done_job()
    real = s3_credentials.TransferManager

    class Corrupting(real):  # type: ignore[misc, valid-type]
        def download(self, bucket: str, key: str, fileobj: str, **kwargs: Any) -> Any:
            future = super().download(bucket, key, fileobj, **kwargs)
            result = future.result

            def corrupted() -> Any:
                value = result()
                with open(fileobj, "r+b") as f:
                    first = f.read(1)
                    f.seek(0)
                    f.write(bytes([first[0] ^ 0xFF]))
                return value

            future.result = corrupted
            return future

    monkeypatch.setattr(s3_credentials, "TransferManager", Corrupting)
    dest = s3_stack.tmp / "target.bin"
    with pytest.raises(HubUnavailable, match="ETag"):
        await s3_stack.artifacts.download_target_model(job_id, str(dest))
    assert not dest.exists() and s3_stack.cached_blobs() == []
    monkeypatch.setattr(s3_credentials, "TransferManager", real)
    paths, _job = await s3_stack.artifacts.download_target_model(job_id, str(dest))
    assert Path(paths[0]).read_bytes() == expected
