"""Official qai-hub naming rules for download_target_model, and safe Hub file names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aihubd.errors import HubError, InvalidArgument
from aihubd.services.delivery import safe_filename, target_model_path

NOW = datetime(2026, 11, 24, 18, 49, 4, 747572)


def test_directory_gets_hub_filename(tmp_path: Path) -> None:
    assert target_model_path(tmp_path, "job_j1_optimized_bin.bin", NOW) == tmp_path / "job_j1_optimized_bin.bin"


def test_taken_name_in_directory_is_uniquified(tmp_path: Path) -> None:
    (tmp_path / "job_j1_optimized_bin.bin").write_bytes(b"old")
    assert (
        target_model_path(tmp_path, "job_j1_optimized_bin.bin", NOW)
        == tmp_path / "job_j1_optimized_bin_18.49.04.747572.bin"
    )


def test_zip_keeps_two_suffixes_when_uniquified(tmp_path: Path) -> None:
    (tmp_path / "m.dlc.zip").write_bytes(b"old")
    assert target_model_path(tmp_path, "m.dlc.zip", NOW) == tmp_path / "m_18.49.04.747572.dlc.zip"


@pytest.mark.parametrize(
    ("given", "hub_name", "expected"),
    [
        ("x.bin", "job_j_optimized_bin.bin", "x.bin"),
        ("plainname", "weird.name.bin", "plainname.name.bin"),
        ("plainname.bin", "weird.name.bin", "plainname.bin.name.bin"),
    ],
)
def test_file_path_gets_suffix_chain(tmp_path: Path, given: str, hub_name: str, expected: str) -> None:
    assert target_model_path(tmp_path / given, hub_name, NOW) == tmp_path / expected


def test_missing_parent_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        target_model_path(tmp_path / "nonexist" / "x.bin", "a.bin", NOW)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "nul\x00", "x" * 300])
def test_hostile_hub_filenames_are_refused(name: str) -> None:
    with pytest.raises(HubError):
        safe_filename(name)
