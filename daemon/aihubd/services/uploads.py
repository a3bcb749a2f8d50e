"""Model uploads, once per content: a file already uploaded (and still on the Hub) is reused by id.

The file is opened once (`PinnedFile`): its digest and the upload read the same descriptor, so the
index records the digest of exactly the bytes the Hub got, whatever is renamed over the path
meanwhile; a file written to in place during either is refused and nothing is recorded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import NotFound
from ..hub.api import HubApi
from ..pinned_file import PinnedFile
from ..store.artifacts import ArtifactIndex
from ..threads import finish_in_thread

__all__ = ["UploadService"]

log = logging.getLogger(__name__)


def _sha256(pinned: PinnedFile) -> tuple[str, int]:
    return pinned.sha256()


class UploadService:
    def __init__(self, hub: HubApi, index: ArtifactIndex) -> None:
        self._hub = hub
        self._index = index

    async def model_id_for(self, path: Path, project_id: str = "", name: str = "") -> str:
        """The Hub model id holding this file's content, uploading it (as ``name``, default the
        file's name) only if none is known."""
        with PinnedFile(path) as pinned:
            sha, size = await finish_in_thread(_sha256, pinned)
            pinned.check_unchanged()
            known = await self._index.find_upload(sha, size, project_id)
            if known is not None:
                try:
                    await self._hub.get_model(known)
                    log.info("%s: content already on the Hub as %s; not uploading again", path.name, known)
                    return known
                except NotFound:
                    await self._index.forget_upload(sha, size, project_id)
            model_id = await self._hub.upload_model(pinned, name or path.name, project_id)
            pinned.check_unchanged()  # what was sent is what was hashed
        await self._index.record_upload(sha, size, project_id, model_id)
        return model_id
