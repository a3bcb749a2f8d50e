"""The upload-dedup index under a file that changes (issue 11, item 4): a model file renamed over
between the daemon's hashing and its upload, and one written to in place. The index maps a
digest only to a Hub model holding exactly those bytes, by URL parts and by S3 credentials."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aihubd.emulator import EmulatorConfig, HubEmulator
from aihubd.errors import FailedPrecondition
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.services import uploads
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import ArtifactIndex
from aihubd.store.database import Database

A = bytes(range(256)) * 2500  # 640,000 bytes: several parts at 256 KiB
B = bytes(reversed(range(256))) * 2500


async def _setup(
    tmp_path: Path, transfer: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[HubEmulator, UploadService, ArtifactIndex]]:
    emulator = HubEmulator(
        EmulatorConfig(manual=True, state_dir=tmp_path / "emu", transfer=transfer, part_bytes=256 * 1024)
    )
    await emulator.start()
    if emulator.s3_endpoint_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", emulator.s3_endpoint_url)
    hub = AiohttpHubClient(
        HubCredentials(emulator.base_url, emulator.base_url, "uploads-token"),
        retry=RetryPolicy(attempts=2, base=0.001, cap=0.001),
    )
    db = await Database.open(tmp_path / "aihubd.db")
    index = ArtifactIndex(db)
    try:
        yield emulator, UploadService(hub, index), index
    finally:
        await db.close()
        await hub.close()
        await emulator.stop()


@pytest.fixture(params=["multipart", "credentials"])
async def hub_side(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[HubEmulator, UploadService, ArtifactIndex]]:
    async for parts in _setup(tmp_path, request.param, monkeypatch):
        yield parts


def _after_hashing(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> None:
    """Run ``act`` right after the daemon hashed the file, before it uploads it."""
    real = uploads._sha256

    def hash_then_act(*args: Any) -> tuple[str, int]:
        out = real(*args)
        act()
        return out

    monkeypatch.setattr(uploads, "_sha256", hash_then_act)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_file_renamed_over_during_hashing_cannot_poison_the_index(
    hub_side: tuple[HubEmulator, UploadService, ArtifactIndex], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, service, index = hub_side
    path, other = tmp_path / "model.dlc", tmp_path / "model.dlc.new"
    path.write_bytes(A)
    other.write_bytes(B)
    _after_hashing(monkeypatch, lambda: os.replace(other, path))  # B renamed over A's path
    model_id = await service.model_id_for(path)
    assert path.read_bytes() == B  # the swap did happen
    assert emulator.blob_store.model_path(model_id).read_bytes() == A  # the Hub got the bytes hashed
    assert await index.find_upload(_sha(A), len(A), "") == model_id
    assert await index.find_upload(_sha(B), len(B), "") is None
    monkeypatch.undo()
    again = tmp_path / "a-again.dlc"
    again.write_bytes(A)
    assert await service.model_id_for(again) == model_id  # A's bytes reuse the model holding A


async def test_a_file_written_in_place_during_the_upload_is_refused_and_not_recorded(
    hub_side: tuple[HubEmulator, UploadService, ArtifactIndex], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _emulator, service, index = hub_side
    path = tmp_path / "model.dlc"
    path.write_bytes(A)

    def overwrite() -> None:
        with path.open("r+b") as f:  # the same inode: an editor or a build writing into it
            f.write(B[:1000])

    _after_hashing(monkeypatch, overwrite)
    with pytest.raises(FailedPrecondition, match="changed while"):
        await service.model_id_for(path)
    assert await index.find_upload(_sha(A), len(A), "") is None
