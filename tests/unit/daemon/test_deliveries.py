"""The delivery journal: a temp file a crash left beside a destination is removed at the next start,
and nothing else ever is."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_artifact_cache import World as Daemon  # one daemon life's artifact parts

from aihubd.errors import InvalidArgument, ResourceExhausted
from aihubd.model import ArtifactType
from aihubd.store.blobs import TEMP_PREFIX, BlobStore, Digest, temp_beside
from aihubd.store.database import Database
from aihubd.store.deliveries import DeliveryJournal


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "aihubd.db")
    yield db
    await db.close()


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX))


async def test_restart_removes_the_temp_file_a_crash_left_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    destination = out / "model.bin"
    destination.write_bytes(b"delivered earlier")
    unrelated = out / f"{TEMP_PREFIX}not-in-the-journal"  # e.g. a Hub file name: not ours to remove
    unrelated.write_bytes(b"someone else's")
    first_life = await Database.open(tmp_path / "aihubd.db")
    temp = temp_beside(destination)
    await DeliveryJournal(first_life).record(temp)  # what a delivery does first ...
    temp.write_bytes(b"half a mod")  # ... then it creates the temp file, and is SIGKILLed
    await first_life.close()

    db = await Database.open(tmp_path / "aihubd.db")  # the next start
    try:
        await Daemon(db, tmp_path).artifacts.reconcile()
        assert not temp.exists()
        assert destination.read_bytes() == b"delivered earlier"
        assert unrelated.read_bytes() == b"someone else's"
        assert sorted(p.name for p in out.iterdir()) == sorted([destination.name, unrelated.name])
        assert await DeliveryJournal(db).pending_paths() == []
    finally:
        await db.close()


async def test_reconcile_removes_only_regular_temp_files_and_forgets_every_row(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    symlink = out / f"{TEMP_PREFIX}symlink"
    symlink.symlink_to(victim)
    directory = out / f"{TEMP_PREFIX}directory"
    directory.mkdir()
    unprefixed = out / "model.bin"  # a row naming a file without the prefix (never written by the daemon)
    unprefixed.write_bytes(b"user data")
    renamed = temp_beside(out / "done.bin")  # renamed into place before the crash: nothing there
    relative = Path(f"{TEMP_PREFIX}relative")
    gone_dir = tmp_path / "removed-dir" / f"{TEMP_PREFIX}x"
    hardlinked = temp_beside(out / "linked.bin")  # a hardlink to a cache blob: only the name goes
    hardlinked.hardlink_to(victim)
    journal = DeliveryJournal(db)
    for path in (symlink, directory, unprefixed, renamed, relative, gone_dir, hardlinked):
        await journal.record(path)

    assert await journal.reconcile() == 1
    assert not hardlinked.exists() and victim.read_bytes() == b"precious"
    assert symlink.is_symlink() and directory.is_dir() and unprefixed.read_bytes() == b"user data"
    assert await journal.pending_paths() == []


async def test_a_path_that_cannot_be_checked_keeps_its_row_for_the_next_start(db: Database, tmp_path: Path) -> None:
    parent = tmp_path / "out"
    parent.symlink_to(parent)  # opening it fails (ELOOP), as an unreadable or unmounted directory would
    temp = temp_beside(parent / "m.bin")
    journal = DeliveryJournal(db)
    await journal.record(temp)
    assert await journal.reconcile() == 0
    assert await journal.pending_paths() == [temp]
    parent.unlink()
    parent.mkdir()
    temp.write_bytes(b"half")
    assert await journal.reconcile() == 1 and not temp.exists()
    assert await journal.pending_paths() == []


@pytest.mark.parametrize("hardlinks", [True, False])
async def test_normal_deliveries_leave_no_journal_rows_and_no_temp_files(
    db: Database, tmp_path: Path, hardlinks: bool
) -> None:
    daemon = Daemon(db, tmp_path, hardlinks=hardlinks)
    job_id = await daemon.done_job()
    (tmp_path / "model").mkdir()
    for _ in range(2):  # the second time the model's name is taken (uniquified) and the logs are overwritten
        await daemon.artifacts.download_target_model(job_id, str(tmp_path / "model"))
        await daemon.artifacts.download_logs(job_id, str(tmp_path / "logs"))
    assert len(list((tmp_path / "model").iterdir())) == 2 and len(list((tmp_path / "logs").iterdir())) == 2
    assert _temps(tmp_path / "model") == _temps(tmp_path / "logs") == []
    assert await daemon.deliveries.pending_paths() == []


async def test_the_temp_path_is_committed_before_the_temp_file_exists(db: Database, tmp_path: Path) -> None:
    seen: list[tuple[bool, bool]] = []

    class Watched(BlobStore):
        def deliver(self, digest: Digest, destination: Path, *, temp: Path | None = None, hardlink: bool = True) -> str:
            assert temp is not None
            with contextlib.closing(sqlite3.connect(db.path)) as other:  # sees committed rows only
                rows = {os.fsdecode(r[0]) for r in other.execute("SELECT temp_path FROM pending_deliveries")}
            seen.append((str(temp) in rows, temp.exists()))
            return super().deliver(digest, destination, temp=temp, hardlink=hardlink)

    daemon = Daemon(db, tmp_path, blobs=Watched)
    await daemon.artifacts.download_logs(await daemon.done_job(), str(tmp_path / "logs"))
    assert seen == [(True, False), (True, False)]  # device log and Hub log


async def test_a_failed_delivery_clears_its_row_and_its_temp_file(db: Database, tmp_path: Path) -> None:
    daemon = Daemon(db, tmp_path, hardlinks=False)
    job_id = await daemon.done_job()
    logs = tmp_path / "logs"
    in_the_way = logs / f"{job_id}_{ArtifactType.DEVICE_LOG.name}.log"
    (in_the_way / "child").mkdir(parents=True)  # a non-empty directory: the rename into place fails
    with pytest.raises(InvalidArgument):
        await daemon.artifacts.download_artifacts(job_id, str(logs), ArtifactType.DEVICE_LOG)
    assert _temps(logs) == []
    assert await daemon.deliveries.pending_paths() == []


async def test_no_room_to_journal_is_resource_exhausted_and_creates_nothing(db: Database, tmp_path: Path) -> None:
    daemon = Daemon(db, tmp_path)
    job_id = await daemon.done_job()
    await daemon.artifacts.download_logs(job_id, str(tmp_path / "cached"))  # fetched and indexed first
    async with db.conn.execute("PRAGMA page_count") as cur:
        pages = (await cur.fetchone())[0]
    await db.conn.execute(f"PRAGMA max_page_count={pages}")  # a full disk, as SQLite reports it
    out = tmp_path.joinpath(*(c * 250 for c in "opqrstuv"))  # a 2 kB row: it needs a new page
    with pytest.raises(ResourceExhausted, match="database"):
        await daemon.artifacts.download_logs(job_id, str(out))
    assert list(out.iterdir()) == []
