"""The official download_target_model naming rules, for the client-side (streamed) path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aihubd_client import UserError
from aihubd_client.naming import target_model_path, written_atomically

NOW = datetime(2024, 1, 2, 18, 49, 4, 747572)


def test_directory_gets_the_hub_filename_then_a_unique_one(tmp_path):
    assert target_model_path(str(tmp_path), "job_x_optimized_bin.bin", NOW) == str(tmp_path / "job_x_optimized_bin.bin")
    (tmp_path / "job_x_optimized_bin.bin").write_bytes(b"taken")
    assert target_model_path(str(tmp_path), "job_x_optimized_bin.bin", NOW) == str(
        tmp_path / "job_x_optimized_bin_18.49.04.747572.bin"
    )
    (tmp_path / "model.onnx.zip").write_bytes(b"taken")
    assert target_model_path(str(tmp_path), "model.onnx.zip", NOW) == str(tmp_path / "model_18.49.04.747572.onnx.zip")
    (tmp_path / "noext").write_bytes(b"taken")
    assert target_model_path(str(tmp_path), "noext", NOW) == str(tmp_path / "noext_18.49.04.747572")


@pytest.mark.parametrize(
    ("argument", "hub_name", "expected"),
    [
        ("x.bin", "job_bin.bin", "x.bin"),
        ("plainname", "weird.name.bin", "plainname.name.bin"),
        ("plainname.bin", "weird.name.bin", "plainname.bin.name.bin"),
        ("plainname.name.bin", "weird.name.bin", "plainname.name.bin"),
        ("model", "noext", "model"),
    ],
)
def test_file_path_gets_the_suffix_chain_when_missing(tmp_path, argument, hub_name, expected):
    assert target_model_path(str(tmp_path / argument), hub_name, NOW) == str(tmp_path / expected)


def test_relative_stays_relative_and_a_missing_directory_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert target_model_path("out", "m.bin", NOW) == "out/m.bin"
    assert target_model_path("out/x", "m.bin", NOW) == "out/x.bin"
    assert target_model_path("here", "m.bin", NOW) == "here.bin"
    with pytest.raises(UserError, match=r"Download directory 'nonexist' does not exist\."):
        target_model_path("nonexist/x", "m.bin", NOW)
    with pytest.raises(UserError, match="unusable file name"):
        target_model_path("out", "", NOW)


def test_written_atomically_overwrites_or_leaves_nothing(tmp_path):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    with written_atomically(str(target)) as file:
        file.write(b"new")
        assert target.read_bytes() == b"old"  # not yet
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), written_atomically(str(tmp_path / "half.bin")) as file:
        file.write(b"half")
        raise RuntimeError("cut")
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["m.bin"]
