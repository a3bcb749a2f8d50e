"""The artifact cache: once per artifact, single-flight, reconciled at start-up, bounded by LRU."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.services.artifacts import ArtifactService
from aihubd.services.jobs import JobService
from aihubd.services.submissions import ModelSource, Submitter
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import TARGET_MODEL, ArtifactIndex
from aihubd.store.blobs import BlobStore
from aihubd.store.database import Database
from aihubd.store.deliveries import DeliveryJournal
from aihubd.store.jobs import JobStore
from aihubd.store.submissions import SubmissionJournal
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule


class World:
    """The parts of one daemon life that cache and deliver artifacts, on the state in ``root``."""

    def __init__(
        self,
        db: Database,
        root: Path,
        cap: int = 1 << 30,
        *,
        blobs: type[BlobStore] = BlobStore,
        hardlinks: bool = True,
    ) -> None:
        self.hub = FakeHub()
        self.index = ArtifactIndex(db)
        self.blobs = blobs(root / "cache")
        self.store = JobStore(db)
        notifier = Notifier()
        self.poller = Poller(self.hub, self.store, notifier, Schedule(Cadence(base=3600, cap=3600)))
        self.jobs = JobService(self.hub, self.store, notifier, self.poller, keepalive=3600)
        self.submitter = Submitter(
            self.hub, self.store, self.poller, UploadService(self.hub, self.index), SubmissionJournal(db)
        )
        self.deliveries = DeliveryJournal(db)
        self.artifacts = ArtifactService(
            self.hub,
            self.jobs,
            self.index,
            self.blobs,
            self.deliveries,
            cap_bytes=cap,
            hardlinks=hardlinks,
            prefetch=False,
        )

    async def done_job(self) -> str:
        job = self.hub.add_job(JobState.DONE)
        self.hub.set_state(job.job_id, JobState.DONE)
        self.hub.jobs[job.job_id] = dataclasses.replace(self.hub.jobs[job.job_id], target_model_id=f"mt{job.job_id}")
        await self.jobs.get(job.job_id)
        return job.job_id


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "aihubd.db")
    yield World(db, tmp_path)
    await db.close()


async def test_ten_concurrent_downloads_make_one_hub_download(world: World, tmp_path: Path) -> None:
    job_id = await world.done_job()
    world.hub.download_gate.clear()  # hold the Hub download until every request is waiting
    outs = [tmp_path / f"out{i}" for i in range(10)]
    for out in outs:
        out.mkdir()
    tasks = [asyncio.create_task(world.artifacts.download_target_model(job_id, str(o))) for o in outs]
    for _ in range(50):
        await asyncio.sleep(0)
    world.hub.download_gate.set()
    results = await asyncio.gather(*tasks)
    assert world.hub.calls["download"] == 1
    contents = {Path(paths[0]).read_bytes() for paths, _ in results}
    assert len(contents) == 1 and contents.pop() == world.hub.content(f"fake://model/mt{job_id}?sig=secret")


async def test_second_download_makes_zero_hub_calls(world: World, tmp_path: Path) -> None:
    job_id = await world.done_job()
    first, _ = await world.artifacts.download_logs(job_id, str(tmp_path / "a"))
    world.hub.calls.clear()
    second, _ = await world.artifacts.download_logs(job_id, str(tmp_path / "b"))
    data = await world.artifacts.read_target_model(job_id)
    assert world.hub.calls["download"] == 1  # only the target model, which was not cached yet
    world.hub.calls.clear()
    (tmp_path / "c").mkdir()
    await world.artifacts.download_target_model(job_id, str(tmp_path / "c"))
    chunks = [c async for c in (await world.artifacts.read_target_model(job_id))[2]]
    assert sum(world.hub.calls.values()) == 0
    assert [Path(p).read_bytes() for p in first] == [Path(p).read_bytes() for p in second]
    assert b"".join(chunks) == next((tmp_path / "c").iterdir()).read_bytes()
    assert data[1] is not None and data[1].filename == f"job_mt{job_id}_optimized_bin.bin"


async def test_same_model_content_is_uploaded_once(world: World, tmp_path: Path) -> None:
    a = tmp_path / "a.dlc"
    a.write_bytes(b"weights")
    copy = tmp_path / "copy_of_a.dlc"
    copy.write_bytes(b"weights")
    other = tmp_path / "b.dlc"
    other.write_bytes(b"other weights")
    await world.submitter.submit([ModelSource(path=str(a)), ModelSource(path=str(other))], "Snapdragon 8 Elite QRD")
    assert world.hub.calls["upload_model"] == 2
    await world.submitter.submit([ModelSource(path=str(copy)), ModelSource(path=str(other))], "Snapdragon 8 Elite QRD")
    assert world.hub.calls["upload_model"] == 2  # same content: reused by id
    assert world.hub.calls["get_model"] == 2  # ... after checking it is still on the Hub
    world.hub.deleted_models.add("m1")
    await world.submitter.submit([ModelSource(path=str(a)), ModelSource(path=str(other))], "Snapdragon 8 Elite QRD")
    assert world.hub.calls["upload_model"] == 3  # gone from the Hub: uploaded again


async def test_startup_reconciles_partial_ingest_and_missing_blob(world: World, tmp_path: Path) -> None:
    job_id = await world.done_job()
    await world.artifacts.download_logs(job_id, str(tmp_path / "logs"))
    files = await world.index.files(job_id, 1)
    world.blobs.path_of(files[0].digest).unlink()  # blob lost
    with world.blobs.ingest_path() as partial:  # a crash mid-download leaves an ingest behind
        partial.write_bytes(b"half")
        leftover = partial.with_name("ingest-crashed")
        partial.rename(leftover)
    orphan = world.blobs.path_of("0" * 64)
    orphan.write_bytes(b"unindexed")

    await world.artifacts.reconcile()
    assert not leftover.exists() and not orphan.exists()
    assert await world.index.files(job_id, 1) == []
    world.hub.calls.clear()
    paths, _ = await world.artifacts.download_logs(job_id, str(tmp_path / "again"))
    assert world.hub.calls["download"] == 1  # the lost one is fetched again, the other is cached
    assert all(Path(p).exists() for p in paths)


async def test_lru_eviction_never_evicts_a_pinned_blob(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        world = World(db, tmp_path, cap=40_000)  # each fake blob is 32,000 bytes: one fits
        first = await world.done_job()
        _, _, stream = await world.artifacts.read_target_model(first)
        head = await stream.__anext__()  # a client is reading the first job's model: pinned
        second = await world.done_job()
        (tmp_path / "o").mkdir()
        await world.artifacts.download_target_model(second, str(tmp_path / "o"))
        first_files = await world.index.files(first, TARGET_MODEL)
        assert first_files and world.blobs.has_hex(first_files[0].digest)  # pinned: kept over the cap
        rest = b"".join([c async for c in stream])
        assert head + rest == world.hub.content(f"fake://model/mt{first}?sig=secret")

        third = await world.done_job()  # now the first is unpinned and least recently used
        (tmp_path / "p").mkdir()
        await world.artifacts.download_target_model(third, str(tmp_path / "p"))
        assert await world.index.files(first, TARGET_MODEL) == []
        assert await world.index.files(second, TARGET_MODEL) == []
        assert len(await world.index.indexed_blobs()) == 1 and world.artifacts.cached_bytes == 32_000
    finally:
        await db.close()


async def test_an_edited_hardlinked_delivery_is_fetched_again(world: World, tmp_path: Path) -> None:
    """A hardlinked delivery shares the cached blob's inode: if its owner makes it writable and
    edits it, the change is noticed (size or mtime) and the next request fetches the blob again."""
    job_id = await world.done_job()
    (tmp_path / "a").mkdir()
    (first,) = (await world.artifacts.download_target_model(job_id, str(tmp_path / "a")))[0]
    original = Path(first).read_bytes()
    assert os.stat(first).st_nlink == 2  # the delivery is the blob itself
    os.chmod(first, 0o644)
    with open(first, "r+b") as f:  # same size, other bytes
        f.write(bytes(b ^ 0xFF for b in original[:16]))
    os.utime(first, ns=(0, os.stat(first).st_mtime_ns + 1_000_000))  # a coarse clock may not tick
    world.hub.calls.clear()

    (tmp_path / "b").mkdir()
    (second,) = (await world.artifacts.download_target_model(job_id, str(tmp_path / "b")))[0]
    assert world.hub.calls["download"] == 1
    assert Path(second).read_bytes() == original == world.hub.content(f"fake://model/mt{job_id}?sig=secret")
    world.hub.calls.clear()
    (tmp_path / "c").mkdir()
    await world.artifacts.download_target_model(job_id, str(tmp_path / "c"))
    assert sum(world.hub.calls.values()) == 0  # intact again: served from the cache
