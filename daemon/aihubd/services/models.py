"""Hub models through the daemon: upload (once per content), read, list, download, share."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidArgument
from ..hub.api import HubApi
from ..model import ModelInfo
from .artifacts import ArtifactService
from .sharing import check_emails
from .uploads import UploadService
from .validation import check_local_model, check_model_id, check_name

__all__ = ["MAX_MODEL_PAGE", "ModelService"]

MAX_MODEL_PAGE = 1000
DEFAULT_MODEL_PAGE = 50


class ModelService:
    def __init__(
        self, hub: HubApi, uploads: UploadService, artifacts: ArtifactService, default_project: str = ""
    ) -> None:
        self._hub = hub
        self._uploads = uploads
        self._artifacts = artifacts
        self._default_project = default_project

    async def upload(self, path: str, name: str = "", project_id: str = "") -> ModelInfo:
        """Upload a local ``.dlc`` (reusing an upload of the same content); the model."""
        local = check_local_model(path)
        check_name(name, "model name")
        project = project_id or self._default_project
        if project:
            check_model_id(project)
        model_id = await self._uploads.model_id_for(local, project, name=name or local.name)
        return await self._hub.get_model(model_id)

    async def get(self, model_id: str) -> ModelInfo:
        return await self._hub.get_model(_checked_id(model_id))

    async def page(self, offset: int, limit: int, project_id: str = "") -> list[ModelInfo]:
        if limit > MAX_MODEL_PAGE:
            raise InvalidArgument(f"limit {limit} is too large; at most {MAX_MODEL_PAGE}")
        project = project_id or self._default_project
        if project:
            check_model_id(project)
        return await self._hub.list_models(offset, limit or DEFAULT_MODEL_PAGE, project)

    async def download(self, model_id: str, destination: str) -> list[str]:
        return await self._artifacts.download_model(_checked_id(model_id), destination)

    async def sharing(self, model_id: str) -> list[str]:
        return await self._hub.get_model_sharing(_checked_id(model_id))

    async def modify_sharing(self, model_id: str, add: Sequence[str], remove: Sequence[str]) -> list[str]:
        if not add and not remove:
            raise InvalidArgument("Either add_emails or delete_emails must be specified and non-empty")
        await self._hub.modify_model_sharing(
            _checked_id(model_id), check_emails(add, "add_emails"), check_emails(remove, "delete_emails")
        )
        return await self._hub.get_model_sharing(model_id)

    async def disable_sharing(self, model_id: str) -> list[str]:
        await self._hub.disable_model_sharing(_checked_id(model_id))
        return await self._hub.get_model_sharing(model_id)


def _checked_id(model_id: str) -> str:
    if not model_id:
        raise InvalidArgument("a model id is required")
    return check_model_id(model_id)
