"""The content-addressed store: commit, delivery by hardlink or copy, nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aihubd.store.blobs import BlobStore, Digest, IngestMismatch


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
    assert _blob(store, b"abc") == digest and store.has(digest)
    assert oct(store.path_of(digest).stat().st_mode & 0o777) == "0o444"
    with store.ingest_path() as tmp:
        tmp.write_bytes(b"abcd")
        with pytest.raises(IngestMismatch):
            store.commit(tmp, Digest(digest.hex, 3))
    assert list((tmp_path / "cache" / "ingest").iterdir()) == []
