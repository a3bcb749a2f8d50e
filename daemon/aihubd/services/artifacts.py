"""Artifacts of finished jobs, each downloaded from the Hub once, then delivered from the cache.

Concurrent requests for the same job's artifact share one Hub download (single-flight, run as
its own task so a client that goes away does not cancel the others). A job reaching DONE has
its target model and logs prefetched in the background. The cache is bounded: least recently
used blobs that nobody is delivering are evicted past the size cap.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..errors import HubUnavailable, ResourceExhausted
from ..hub.api import HubApi
from ..model import LOG_TYPES, ArtifactType, Device, Job, JobState, ModelInfo
from ..store.artifacts import TARGET_MODEL, ArtifactIndex, CachedFile
from ..store.blobs import BlobStore, Digest, IngestMismatch, temp_beside
from ..store.deliveries import DeliveryJournal
from ..threads import finish_in_thread
from .delivery import ensure_directory, safe_filename, target_model_path
from .jobs import JobService
from .validation import check_output_path

__all__ = ["CHUNK_SIZE", "ArtifactService"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 256 << 10  # with gRPC's copies an unread stream holds ~1.2 MB (1 MiB chunks: ~4.8 MB)


class ArtifactService:
    def __init__(
        self,
        hub: HubApi,
        jobs: JobService,
        index: ArtifactIndex,
        blobs: BlobStore,
        deliveries: DeliveryJournal,
        *,
        cap_bytes: int,
        hardlinks: bool = True,
        prefetch: bool = True,
    ) -> None:
        self._hub = hub
        self._jobs = jobs
        self._index = index
        self._blobs = blobs
        self._deliveries = deliveries
        self._cap = cap_bytes
        self._hardlinks = hardlinks
        self._prefetch = prefetch
        self._fetches: dict[tuple[str, int], asyncio.Task[list[CachedFile]]] = {}
        self._pins: Counter[str] = Counter()
        self._background: set[asyncio.Task[None]] = set()
        self._prefetch_gate = asyncio.Semaphore(2)
        self.cached_bytes = 0

    # -- start-up and background ---------------------------------------------------------------

    async def reconcile(self) -> None:
        """Drop delivery temp files and partial ingests a crash left, index rows whose blob is
        missing or the wrong size, and blobs nobody indexed (a crash between commit and index)."""
        temps = await self._deliveries.reconcile()
        partial = self._blobs.clean_partial_ingests()
        on_disk = self._blobs.on_disk()
        indexed = await self._index.indexed_blobs()
        broken = [d for d, size in indexed.items() if on_disk.get(d) != size]
        await self._index.forget_blobs(broken)
        orphans = [d for d in on_disk if d not in indexed or d in broken]
        for digest in orphans:
            self._blobs.remove(digest)
        self.cached_bytes = await self._index.total_size()
        if temps or partial or broken or orphans:
            log.info(
                "cache reconciled: %d delivery temp files, %d partial ingests, %d broken index rows, "
                "%d orphan blobs removed",
                temps,
                partial,
                len(broken),
                len(orphans),
            )

    def job_finished(self, job: Job) -> None:
        """Poller listener: prefetch a finished job's target model and logs (never raises)."""
        if self._prefetch and job.state == JobState.DONE:
            task = asyncio.create_task(self._prefetch_job(job), name=f"prefetch-{job.job_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _prefetch_job(self, job: Job) -> None:
        async with self._prefetch_gate:
            for kind in (TARGET_MODEL, *LOG_TYPES):
                if kind == TARGET_MODEL and not job.target_model_id:
                    continue
                if kind != TARGET_MODEL and kind not in job.available_artifacts:
                    continue
                try:
                    await self._cached(job, kind)
                except Exception as exc:  # a prefetch is best effort; a request will retry
                    log.info("prefetch of job %s kind %d failed: %s", job.job_id, kind, exc)

    async def close(self) -> None:
        for task in [*self._background, *self._fetches.values()]:
            task.cancel()
        await asyncio.gather(*self._background, *self._fetches.values(), return_exceptions=True)

    # -- the cache -------------------------------------------------------------------------------

    async def _cached(self, job: Job, kind: int) -> list[CachedFile]:
        """The job's files of ``kind`` in the cache, downloading them once if needed."""
        files = await self._index.files(job.job_id, kind)
        if (
            files
            and all(self._blobs.intact(Digest(f.digest, f.size), f.mtime_ns) for f in files)
            and await self._digests_hold(job, files)
        ):
            return files
        key = (job.job_id, kind)
        task = self._fetches.get(key)
        if task is None:
            changed = [
                f.filename
                for f in files
                if self._blobs.has_hex(f.digest) and not self._blobs.intact(Digest(f.digest, f.size), f.mtime_ns)
            ]
            if changed:  # the fetch's commit replaces it (hardlinked deliveries keep the old inode)
                log.warning(
                    "job %s: cached %s changed on disk (an edited hardlinked delivery?): fetching again",
                    job.job_id,
                    ", ".join(changed),
                )
            task = asyncio.create_task(self._fetch(job, kind), name=f"fetch-{job.job_id}-{kind}")
            self._fetches[key] = task
            task.add_done_callback(lambda _t: self._fetches.pop(key, None))
        return await asyncio.shield(task)

    async def _digests_hold(self, job: Job, files: list[CachedFile]) -> bool:
        """Hash each blob changed on disk since its digest was last checked (an edit that restored
        the mtime passes ``intact``); a blob that fails is removed, so it is fetched again."""
        for f in files:
            digest = Digest(f.digest, f.size)
            if self._blobs.needs_verify(digest) and not await finish_in_thread(self._blobs.verify, digest):
                log.warning(
                    "job %s: cached %s does not match its digest: removed, fetching again", job.job_id, f.filename
                )
                self._blobs.remove(f.digest)
                return False
        return True

    async def _fetch(self, job: Job, kind: int) -> list[CachedFile]:
        if kind == TARGET_MODEL:
            targets = [await self._hub.target_model_file(job.target_model_id)]
        else:
            targets = await self._hub.artifact_files(job.job_id, ArtifactType(kind))
        files: list[CachedFile] = []
        for target in targets:
            name = safe_filename(target.filename)
            with self._blobs.ingest_path() as tmp:  # removed on any failure: no partial blob stays
                try:
                    size, hex_digest = await self._hub.download(target, tmp)
                    await finish_in_thread(self._blobs.commit, tmp, Digest(hex_digest, size))
                except IngestMismatch as exc:
                    raise HubUnavailable(f"the Hub sent a damaged {name}: {exc}") from None
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise ResourceExhausted(
                            f"no space left for {name} in the artifact cache "
                            f"({self._blobs.root}); free some space or lower --cache-max-gib"
                        ) from None
                    raise
            files.append(CachedFile(name, hex_digest, size, self._blobs.mtime_ns(Digest(hex_digest, size))))
        await self._index.record(job.job_id, kind, files)
        log.info("job %s: cached %s", job.job_id, ", ".join(f"{f.filename} ({f.size} B)" for f in files) or "nothing")
        await self._evict(keep={f.digest for f in files})
        return files

    async def _evict(self, keep: set[str]) -> None:
        total = await self._index.total_size()
        if total > self._cap:
            victims: list[str] = []
            for digest, size in await self._index.least_recently_used(limit=1000):
                if total <= self._cap:
                    break
                if digest in keep or self._pins[digest] > 0:
                    continue
                victims.append(digest)
                total -= size
            await self._index.forget_blobs(victims)
            for digest in victims:
                self._blobs.remove(digest)
            if victims:
                log.info("cache over its cap: evicted %d blobs", len(victims))
        self.cached_bytes = total

    @contextmanager
    def _pinned(self, files: list[CachedFile]) -> Iterator[None]:
        for f in files:
            self._pins[f.digest] += 1
        try:
            yield
        finally:
            for f in files:
                self._pins[f.digest] -= 1
                if self._pins[f.digest] <= 0:
                    del self._pins[f.digest]

    async def _deliver(self, files: list[CachedFile], paths: list[Path]) -> None:
        """Put each file at its path; each temp file is journaled until renamed (or removed)."""
        with self._pinned(files):
            for f, path in zip(files, paths, strict=True):
                digest = Digest(f.digest, f.size)
                if self._blobs.delivered(digest, path):
                    continue
                async with self._deliveries.pending(temp_beside(path)) as temp:
                    await finish_in_thread(self._blobs.deliver, digest, path, temp=temp, hardlink=self._hardlinks)
        await self._index.touch([f.digest for f in files])

    # -- what the RPCs ask for ------------------------------------------------------------------

    @staticmethod
    def _has_target(job: Job) -> bool:
        return job.state == JobState.DONE and bool(job.target_model_id)

    async def download_target_model(self, job_id: str, destination: str) -> tuple[list[str], Job]:
        """Wait for the job, then put its target model at ``destination`` (official naming rules);
        no paths when the job failed."""
        dest = check_output_path(destination, "destination")
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            return [], job
        files = await self._cached(job, TARGET_MODEL)
        path = target_model_path(dest, files[0].filename)
        await self._deliver(files[:1], [path])
        return [str(path)], job

    async def read_target_model(self, job_id: str) -> tuple[Job, CachedFile | None, AsyncGenerator[bytes]]:
        """Wait for the job, then stream its target model from the cache in chunks of ``CHUNK_SIZE``."""
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            return job, None, _nothing()
        files = await self._cached(job, TARGET_MODEL)
        return job, files[0], self._stream(files[0])

    async def _stream(self, file: CachedFile) -> AsyncGenerator[bytes]:
        """Chunks of ``CHUNK_SIZE`` read on the loop, the next one only when the consumer asks
        (no read-ahead): the blob is usually in the page cache (just downloaded or prefetched); a
        worker-thread read-ahead measured ~10 % slower in `make bench`. Closing the generator closes
        the file and unpins the blob."""
        with self._pinned([file]), self._blobs.path_of(file.digest).open("rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk
        await self._index.touch([file.digest])

    async def download_artifacts(self, job_id: str, output_dir: str, kind: ArtifactType) -> tuple[list[str], Job]:
        """Wait for the job, then write every artifact of ``kind`` into ``output_dir`` (created;
        existing files overwritten). No paths when the job does not offer that kind."""
        directory = check_output_path(output_dir, "output directory")
        job = await self._jobs.wait_finished(job_id)
        ensure_directory(directory)
        return await self._deliver_kind(job, directory, kind), job

    async def download_logs(self, job_id: str, output_dir: str) -> tuple[list[str], Job]:
        """Wait for the job, then write the device log and the Hub log into ``output_dir``."""
        directory = check_output_path(output_dir, "output directory")
        job = await self._jobs.wait_finished(job_id)
        ensure_directory(directory)
        paths: list[str] = []
        for kind in LOG_TYPES:
            paths += await self._deliver_kind(job, directory, kind)
        return paths, job

    async def _deliver_kind(self, job: Job, directory: Path, kind: ArtifactType) -> list[str]:
        if kind not in job.available_artifacts:
            return []
        files = await self._cached(job, int(kind))
        paths = [directory / f.filename for f in files]
        await self._deliver(files, paths)
        return [str(p) for p in paths]

    async def download_model(self, model_id: str, destination: str) -> list[str]:
        """Any Hub model (an upload, a target model) at ``destination`` by the official naming
        rules, through the cache (keyed ``model:<id>``: a model's content never changes)."""
        dest = check_output_path(destination, "destination")
        info = await self._hub.get_model(model_id)
        holder = Job(
            job_id=f"model:{model_id}",
            name=info.name,
            state=JobState.DONE,
            message="",
            creation_time=info.creation_time or datetime.now(UTC),
            last_updated_time=None,
            device=Device(""),
            models=(),
            target_model_id=model_id,
        )
        files = await self._cached(holder, TARGET_MODEL)
        path = target_model_path(dest, files[0].filename)
        await self._deliver(files[:1], [path])
        return [str(path)]

    async def target_model(self, job_id: str) -> tuple[ModelInfo | None, str, Job]:
        """Wait for the job; the target model's description and Hub filename, None if it failed."""
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            return None, "", job
        info = await self._hub.get_model(job.target_model_id)
        files = await self._index.files(job.job_id, TARGET_MODEL)
        filename = (
            files[0].filename
            if files
            else safe_filename((await self._hub.target_model_file(job.target_model_id)).filename)
        )
        return info, filename, job


async def _nothing() -> AsyncGenerator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk
