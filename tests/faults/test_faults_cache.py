"""The artifact cache under bad luck (issue 11, items 15 and 18): the cache deleted while the
daemon runs, and a blob corrupted in place with its mtime restored."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.services.artifacts import ArtifactService
from aihubd.services.blob_audit import BlobAudit
from aihubd.services.jobs import JobService
from aihubd.store.artifacts import TARGET_MODEL, ArtifactIndex
from aihubd.store.blobs import BlobStore, Digest
from aihubd.store.database import Database
from aihubd.store.deliveries import DeliveryJournal
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule


class CountingBlobStore(BlobStore):
    """Counts digest verifications (the expensive check the hot path must not repeat)."""

    verifications = 0

    def verify(self, digest: Digest) -> bool:
        self.verifications += 1
        return super().verify(digest)


@dataclasses.dataclass
class Cache:
    hub: FakeHub
    jobs: JobService
    index: ArtifactIndex
    blobs: CountingBlobStore
    artifacts: ArtifactService

    async def done_job(self) -> str:
        job = self.hub.add_job(JobState.DONE)
        self.hub.set_state(job.job_id, JobState.DONE)
        self.hub.jobs[job.job_id] = dataclasses.replace(self.hub.jobs[job.job_id], target_model_id=f"mt{job.job_id}")
        await self.jobs.get(job.job_id)
        return job.job_id

    async def read(self, job_id: str) -> bytes:
        _job, _file, chunks = await self.artifacts.read_target_model(job_id)
        return b"".join([chunk async for chunk in chunks])

    def expected(self, job_id: str) -> bytes:
        return self.hub.content(f"fake://model/mt{job_id}?sig=secret")


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[Cache]:
    db = await Database.open(tmp_path / "aihubd.db")
    hub = FakeHub()
    store = JobStore(db)
    notifier = Notifier()
    poller = Poller(hub, store, notifier, Schedule(Cadence(base=3600, cap=3600)))
    jobs = JobService(hub, store, notifier, poller, keepalive=3600)
    index = ArtifactIndex(db)
    blobs = CountingBlobStore(tmp_path / "cache")
    artifacts = ArtifactService(hub, jobs, index, blobs, DeliveryJournal(db), cap_bytes=1 << 30, prefetch=False)
    yield Cache(hub, jobs, index, blobs, artifacts)
    await artifacts.close()
    await db.close()


# -- item 15 -------------------------------------------------------------------------------------


async def test_deleting_the_cache_dir_while_running_only_costs_a_fetch(cache: Cache, tmp_path: Path) -> None:
    job_id = await cache.done_job()
    first, _ = await cache.artifacts.download_target_model(job_id, str(tmp_path / "out1"))
    shutil.rmtree(tmp_path / "cache")  # someone cleans ~/.cache while the daemon runs
    second, _ = await cache.artifacts.download_target_model(job_id, str(tmp_path / "out2"))
    logs, _ = await cache.artifacts.download_logs(job_id, str(tmp_path / "logs"))  # a kind never cached
    assert Path(second[0]).read_bytes() == Path(first[0]).read_bytes() == cache.expected(job_id)
    assert len(logs) == 2 and all(Path(p).stat().st_size > 0 for p in logs)
    assert cache.hub.calls["download"] == 1 + 1 + 2  # the target model fetched again, once


# -- item 18 -------------------------------------------------------------------------------------


def _corrupt_in_place(path: Path) -> None:
    """Same size, other bytes, the mtime put back (what a size+mtime check cannot see)."""
    st = path.stat()
    os.chmod(path, 0o644)
    with path.open("r+b") as f:
        f.seek(st.st_size // 2)
        f.write(b"\x00CORRUPT\x00")
    os.chmod(path, 0o444)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


async def test_a_blob_corrupted_with_its_mtime_restored_is_fetched_again_not_streamed(cache: Cache) -> None:
    job_id = await cache.done_job()
    assert await cache.read(job_id) == cache.expected(job_id)
    assert await cache.read(job_id) == cache.expected(job_id)
    assert cache.blobs.verifications == 0  # unchanged since its commit: the hot path does not hash
    (cached,) = await cache.index.files(job_id, TARGET_MODEL)
    _corrupt_in_place(cache.blobs.path_of(cached.digest))
    assert await cache.read(job_id) == cache.expected(job_id)  # never the corrupt bytes
    assert cache.hub.calls["download"] == 2
    assert cache.blobs.verifications == 1
    assert hashlib.sha256(cache.blobs.path_of(cached.digest).read_bytes()).hexdigest() == cached.digest


async def test_the_scheduled_check_drops_a_blob_that_no_longer_matches(cache: Cache) -> None:
    good, bad = await cache.done_job(), await cache.done_job()
    for job_id in (good, bad):
        await cache.read(job_id)
    (damaged,) = await cache.index.files(bad, TARGET_MODEL)
    _corrupt_in_place(cache.blobs.path_of(damaged.digest))

    ticks: asyncio.Queue[None] = asyncio.Queue()
    rounds = asyncio.Queue[float]()

    async def sleep(seconds: float) -> None:  # the schedule's clock: a round starts when the test says
        await rounds.put(seconds)
        await ticks.get()

    audit = BlobAudit(cache.index, cache.blobs, interval=86400.0, sleep=sleep)
    task = asyncio.create_task(audit.run())
    try:
        assert await asyncio.wait_for(rounds.get(), 10) == 86400.0  # waiting for the first round
        await ticks.put(None)
        await asyncio.wait_for(rounds.get(), 10)  # the round is over: waiting for the next
    finally:
        task.cancel()
    assert await cache.index.files(bad, TARGET_MODEL) == []
    assert not cache.blobs.has_hex(damaged.digest)
    assert len(await cache.index.files(good, TARGET_MODEL)) == 1
    assert await cache.read(bad) == cache.expected(bad)  # fetched again on the next request
    assert cache.hub.calls["download"] == 3
