"""An in-memory HubApi for unit tests: jobs whose state the test sets, and a call log."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aihubd.errors import HubUnavailable, NotFound
from aihubd.model import ArtifactType, Device, Job, JobState, JobSummary, ModelInfo, ModelRef, TargetFile

QRD = Device("Snapdragon 8 Elite QRD", "15", ("framework:qnn",))


class FakeHub:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.calls: Counter[str] = Counter()
        self.unlisted: set[str] = set()  # jobs the summaries listing does not show
        self.deleted_models: set[str] = set()
        self.drop_after_create = False  # the create succeeds but its answer is lost
        self.refuse_creates = 0  # this many creates answer 503 without creating anything
        self.blob_content: dict[str, bytes] = {}
        self.download_gate = asyncio.Event()
        self.download_gate.set()
        self.devices: dict[str, Sequence[Device]] = {}  # what select=True answers for a name, beyond QRD
        self.models: dict[str, str] = {}  # model id -> name, beyond the default f"{id}.bin"
        self.page_cap: int | None = None  # the Hub's own page-size limit, if smaller than asked
        self.summaries_without_update_time = False  # the listing leaves last_updated_time unset
        self.summary_offsets: list[int] = []
        self._next = 0

    def add_job(
        self, state: JobState = JobState.CREATED, *, name: str = "n", models: Sequence[str] = ("m1",), options: str = ""
    ) -> Job:
        self._next += 1
        job = Job(
            job_id=f"j{self._next:04d}",
            name=name,
            state=state,
            message="",
            creation_time=datetime.now(UTC),
            last_updated_time=None,
            device=QRD,
            models=tuple(ModelRef(m) for m in models),
            options=options,
        )
        self.jobs[job.job_id] = job
        return job

    def set_state(self, job_id: str, state: JobState, message: str = "") -> None:
        self.jobs[job_id] = dataclasses.replace(
            self.jobs[job_id],
            state=state,
            message=message,
            last_updated_time=datetime.now(UTC),
            available_artifacts=(ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG) if state.terminal else (),
        )

    async def select_devices(self, name: str) -> list[Device]:
        self.calls["find_device"] += 1
        if name in self.devices:
            return list(self.devices[name])
        return [QRD] if name == QRD.name else []

    def hub_now(self) -> float | None:
        return time.time()  # the clock its jobs' creation times come from

    async def upload_model(self, path: Path, name: str, project_id: str = "") -> str:
        self.calls["upload_model"] += 1
        return f"m{self.calls['upload_model']}"

    async def create_link_job(
        self, model_ids: Sequence[str], device: Device, name: str, options: str, project_id: str = ""
    ) -> str:
        self.calls["create_link_job"] += 1
        if self.refuse_creates > 0:
            self.refuse_creates -= 1
            raise HubUnavailable("the Hub is unavailable (503 on POST /api/v1/jobs/); try again later", 503)
        job = self.add_job(name=name, models=model_ids, options=options.strip())
        if self.drop_after_create:
            raise HubUnavailable("cannot reach the Hub (POST /api/v1/jobs/: ServerDisconnectedError)")
        return job.job_id

    async def get_job(self, job_id: str) -> Job:
        self.calls["get_job"] += 1
        if job_id not in self.jobs:
            raise NotFound(f"'{job_id}' was not found on the Hub")
        return dataclasses.replace(self.jobs[job_id], refreshed_at=datetime.now(UTC))

    async def list_link_job_summaries(self, states: Sequence[JobState], offset: int, limit: int) -> list[JobSummary]:
        self.calls["list_summaries"] += 1
        self.summary_offsets.append(offset)
        rows = [
            JobSummary(
                j.job_id,
                j.state,
                None if self.summaries_without_update_time else j.last_updated_time,
                j.name,
                j.device.name,
                j.creation_time,
            )
            for j in sorted(self.jobs.values(), key=lambda j: j.job_id, reverse=True)
            if (not states or j.state in states) and j.job_id not in self.unlisted
        ]
        page = min(limit, self.page_cap) if self.page_cap else limit
        return rows[offset : offset + page]

    async def get_model(self, model_id: str) -> ModelInfo:
        self.calls["get_model"] += 1
        if model_id in self.deleted_models:
            raise NotFound(f"'{model_id}' was not found on the Hub")
        return ModelInfo(model_id, self.models.get(model_id, f"{model_id}.bin"), 11, None)

    async def target_model_file(self, model_id: str) -> TargetFile:
        self.calls["target_model_file"] += 1
        return TargetFile(url=f"fake://model/{model_id}?sig=secret", filename=f"job_{model_id}_optimized_bin.bin")

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        self.calls["artifact_files"] += 1
        return [
            TargetFile(url=f"fake://log/{job_id}/{int(artifact_type)}", filename=f"{job_id}_{artifact_type.name}.log")
        ]

    def content(self, url: str) -> bytes:
        return self.blob_content.get(url) or hashlib.sha256(url.encode()).digest() * 1000

    async def download(self, target: TargetFile, dest: Path) -> tuple[int, str]:
        self.calls["download"] += 1
        await self.download_gate.wait()
        data = self.content(target.url)
        dest.write_bytes(data)
        return len(data), hashlib.sha256(data).hexdigest()

    async def close(self) -> None:
        return None
