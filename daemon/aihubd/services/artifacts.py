"""Artifacts of finished jobs: the target model and the logs, to a path or as a stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from ..hub.api import HubApi
from ..model import LOG_TYPES, ArtifactType, Job, JobState, ModelInfo
from .delivery import atomic_file, ensure_directory, safe_filename, target_model_path
from .jobs import JobService
from .validation import check_output_path

__all__ = ["ArtifactService", "CHUNK_SIZE"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20


class ArtifactService:
    def __init__(self, hub: HubApi, jobs: JobService) -> None:
        self._hub = hub
        self._jobs = jobs

    @staticmethod
    def _has_target(job: Job) -> bool:
        return job.state == JobState.DONE and bool(job.target_model_id)

    async def download_target_model(self, job_id: str, destination: str) -> tuple[list[str], Job]:
        """Wait for the job, then write its target model; no paths when the job failed."""
        dest = check_output_path(destination, "destination")
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            return [], job
        target = await self._hub.target_model_file(job.target_model_id)
        path = target_model_path(dest, target.filename)
        async with atomic_file(path) as tmp:
            size, digest = await self._hub.download(target.url, tmp)
        log.info("job %s: target model (%d bytes, sha256 %s) -> %s", job_id, size, digest[:12], path)
        return [str(path)], job

    async def read_target_model(self, job_id: str) -> tuple[Job, str, AsyncIterator[bytes]]:
        """Wait for the job, then stream its target model in chunks of at most 1 MiB."""
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            async def nothing() -> AsyncIterator[bytes]:
                return
                yield b""
            return job, "", nothing()
        target = await self._hub.target_model_file(job.target_model_id)
        return job, safe_filename(target.filename), self._hub.stream(target.url, CHUNK_SIZE)

    async def download_artifacts(self, job_id: str, output_dir: str, kind: ArtifactType) -> tuple[list[str], Job]:
        """Wait for the job, then write every artifact of ``kind`` into ``output_dir`` (created;
        existing files overwritten). No paths when the job does not offer that kind."""
        directory = check_output_path(output_dir, "output directory")
        job = await self._jobs.wait_finished(job_id)
        ensure_directory(directory)
        return await self._fetch_into(job, directory, kind), job

    async def download_logs(self, job_id: str, output_dir: str) -> tuple[list[str], Job]:
        """Wait for the job, then write the device log and the Hub log into ``output_dir``."""
        directory = check_output_path(output_dir, "output directory")
        job = await self._jobs.wait_finished(job_id)
        ensure_directory(directory)
        paths: list[str] = []
        for kind in LOG_TYPES:
            paths += await self._fetch_into(job, directory, kind)
        return paths, job

    async def _fetch_into(self, job: Job, directory: Path, kind: ArtifactType) -> list[str]:
        if kind not in job.available_artifacts:
            return []
        paths: list[str] = []
        for artifact in await self._hub.artifact_files(job.job_id, kind):
            path = directory / safe_filename(artifact.filename)
            async with atomic_file(path) as tmp:
                await self._hub.download(artifact.url, tmp)
            paths.append(str(path))
        return paths

    async def target_model(self, job_id: str) -> tuple[ModelInfo | None, str, Job]:
        """Wait for the job; the target model's description and Hub filename, None if it failed."""
        job = await self._jobs.wait_finished(job_id)
        if not self._has_target(job):
            return None, "", job
        info = await self._hub.get_model(job.target_model_id)
        target = await self._hub.target_model_file(job.target_model_id)
        return info, safe_filename(target.filename), job
