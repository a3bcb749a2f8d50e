"""The content-addressed store: commit, delivery by hardlink or copy, nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aihubd.errors import InvalidArgument
from aihubd.store.blobs import TEMP_PREFIX, BlobStore, Digest, IngestMismatch, temp_beside


def _blob(store: BlobStore, data: bytes) -> Digest:
    digest = Digest(hashlib.sha256(data).hexdigest(), len(data))
    with store.ingest_path() as tmp:
        tmp.write_bytes(data)
        store.commit(tmp, digest)
    return digest


@pytest.mark.parametrize("hardlink", [True, False])
def test_repeated_delivery_to_one_path_leaves_no_temp_files(tmp_path: Path, hardlink: bool) -> None:
    store = BlobStore(tmp_path / "cache")
    digest = _blob(store, b"model bytes" * 1000)
    out = tmp_path / "out"
    out.mkdir()
    for _ in range(3):
        store.deliver(digest, out / "m.bin", hardlink=hardlink)
    assert [p.name for p in out.iterdir()] == ["m.bin"]
    assert (out / "m.bin").read_bytes() == b"model bytes" * 1000


def test_commit_checks_the_size_and_is_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "cache")
    digest = _blob(store, b"abc")
    assert _blob(store, b"abc") == digest and store.intact(digest, None)
    assert store.path_of(digest).read_bytes() == b"abc"
    assert oct(store.path_of(digest).stat().st_mode & 0o777) == "0o444"
    with store.ingest_path() as tmp:
        tmp.write_bytes(b"abcd")
        with pytest.raises(IngestMismatch):
            store.commit(tmp, Digest(digest.hex, 3))
    assert list((tmp_path / "cache" / "ingest").iterdir()) == []


@pytest.mark.parametrize("hardlink", [True, False])
def test_delivery_through_a_chosen_temp_name(tmp_path: Path, hardlink: bool) -> None:
    store = BlobStore(tmp_path / "cache")
    digest = _blob(store, b"weights")
    out = tmp_path / "out"
    out.mkdir()
    temp = temp_beside(out / "m.bin")
    assert temp.parent == out and temp.name.startswith(TEMP_PREFIX) and temp != temp_beside(out / "m.bin")
    assert store.deliver(digest, out / "m.bin", temp=temp, hardlink=hardlink) == ("hardlink" if hardlink else "copy")
    assert not temp.exists() and (out / "m.bin").read_bytes() == b"weights"
    assert store.delivered(digest, out / "m.bin") == hardlink
    assert (store.deliver(digest, out / "m.bin", hardlink=hardlink) == "present") == hardlink


@pytest.mark.parametrize("hardlink", [True, False])
def test_delivery_never_removes_a_file_already_at_its_temp_name(tmp_path: Path, hardlink: bool) -> None:
    store = BlobStore(tmp_path / "cache")
    digest = _blob(store, b"weights")
    taken = tmp_path / f"{TEMP_PREFIX}taken"
    taken.write_bytes(b"not ours")
    with pytest.raises(InvalidArgument):
        store.deliver(digest, tmp_path / "m.bin", temp=taken, hardlink=hardlink)
    assert taken.read_bytes() == b"not ours" and not (tmp_path / "m.bin").exists()
