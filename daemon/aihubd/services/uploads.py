"""Model uploads, once per content: a file already uploaded (and still on the Hub) is reused by id."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from ..errors import NotFound
from ..hub.api import HubApi
from ..store.artifacts import ArtifactIndex

__all__ = ["UploadService"]

log = logging.getLogger(__name__)


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class UploadService:
    def __init__(self, hub: HubApi, index: ArtifactIndex) -> None:
        self._hub = hub
        self._index = index

    async def model_id_for(self, path: Path, project_id: str = "", name: str = "") -> str:
        """The Hub model id holding this file's content, uploading it (as ``name``, default the
        file's name) only if none is known."""
        sha, size = await asyncio.to_thread(_sha256, path)
        known = await self._index.find_upload(sha, size, project_id)
        if known is not None:
            try:
                await self._hub.get_model(known)
                log.info("%s: content already on the Hub as %s; not uploading again", path.name, known)
                return known
            except NotFound:
                await self._index.forget_upload(sha, size, project_id)
        model_id = await self._hub.upload_model(path, name or path.name, project_id)
        await self._index.record_upload(sha, size, project_id, model_id)
        return model_id
