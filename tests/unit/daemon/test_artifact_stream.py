"""Streaming a cached target model: bounded chunks, every byte, pinned only while read."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_artifact_cache import World

from aihubd.services import artifacts as artifacts_module
from aihubd.store.artifacts import TARGET_MODEL
from aihubd.store.database import Database


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(artifacts_module, "CHUNK_SIZE", 1000)
    return 1000


async def test_stream_gives_every_byte_in_bounded_chunks(tmp_path: Path, small_chunks: int) -> None:
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        world = World(db, tmp_path)
        job_id = await world.done_job()
        _, file, stream = await world.artifacts.read_target_model(job_id)
        chunks = [c async for c in stream]
        content = world.hub.content(f"fake://model/mt{job_id}?sig=secret")
        assert file is not None and file.size == len(content)
        assert len(chunks) == -(-len(content) // small_chunks) and all(len(c) <= small_chunks for c in chunks)
        assert b"".join(chunks) == content
    finally:
        await db.close()


async def test_an_abandoned_stream_unpins_its_blob(tmp_path: Path, small_chunks: int) -> None:
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        world = World(db, tmp_path, cap=40_000)  # each fake blob is 32,000 bytes: one fits
        first = await world.done_job()
        _, _, stream = await world.artifacts.read_target_model(first)
        assert len(await stream.__anext__()) == small_chunks
        await stream.aclose()  # the client went away mid-stream
        second = await world.done_job()
        (tmp_path / "o").mkdir()
        await world.artifacts.download_target_model(second, str(tmp_path / "o"))
        assert await world.index.files(first, TARGET_MODEL) == []  # no longer pinned: evicted
        assert len(await world.index.indexed_blobs()) == 1
    finally:
        await db.close()
