"""HubApi: what the daemon needs from Qualcomm AI Hub, independent of how it is spoken."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..model import ArtifactType, Device, Job, JobState, JobSummary, ModelInfo, TargetFile
from ..pinned_file import PinnedFile

__all__ = ["HubApi"]


class HubApi(Protocol):
    """The Hub as the daemon sees it. Errors are ``aihubd.errors`` kinds, never HTTP ones."""

    async def select_devices(self, name: str) -> list[Device]:
        """The devices the Hub selects for ``name``: normally one, none when it has no such device."""

    async def upload_model(self, path: Path | PinnedFile, name: str, project_id: str = "") -> str:
        """Upload a local model file (every byte read from the one open file a `PinnedFile`
        holds, when given one); returns the new Hub model id."""

    async def create_link_job(
        self, model_ids: Sequence[str], device: Device, name: str, options: str, project_id: str = ""
    ) -> str:
        """Create a link job; returns its id."""

    async def get_job(self, job_id: str) -> Job:
        """The job as the Hub sees it now."""

    async def list_link_job_summaries(self, states: Sequence[JobState], offset: int, limit: int) -> list[JobSummary]:
        """One page of the token account's own link jobs in ``states`` (newest first). No total:
        page while a page comes back full."""

    async def set_job_name(self, job_id: str, name: str) -> None: ...

    async def get_sharing(self, job_id: str) -> list[str]: ...

    async def modify_sharing(self, job_id: str, add: Sequence[str], remove: Sequence[str]) -> None: ...

    async def disable_sharing(self, job_id: str) -> None: ...

    async def get_model(self, model_id: str) -> ModelInfo: ...

    async def list_devices(self, name: str = "", os: str = "", attributes: Sequence[str] = ()) -> list[Device]:
        """Every device matching all the given filters."""

    async def list_models(self, offset: int, limit: int, project_id: str = "") -> list[ModelInfo]:
        """One page of the account's models, newest first."""

    async def get_model_sharing(self, model_id: str) -> list[str]: ...

    async def modify_model_sharing(self, model_id: str, add: Sequence[str], remove: Sequence[str]) -> None: ...

    async def disable_model_sharing(self, model_id: str) -> None: ...

    async def get_auth_user_email(self) -> str:
        """The email of the account the token belongs to."""

    async def target_model_file(self, model_id: str) -> TargetFile:
        """Where to download a model from, and its filename."""

    async def artifact_files(self, job_id: str, artifact_type: ArtifactType) -> list[TargetFile]:
        """The files of one artifact type of a finished job."""

    async def download(self, target: TargetFile, dest: Path) -> tuple[int, str]:
        """Write ``target`` to ``dest`` (by its URL or S3 credentials); returns (size, sha256 hex)."""

    def hub_now(self) -> float | None:
        """A lower bound of the Hub's own time now (epoch seconds, from the Date of its answers),
        None before any dated answer. Never the daemon's wall clock."""

    async def close(self) -> None: ...
