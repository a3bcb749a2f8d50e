"""Which reply variant a transfer request gets, per mode (``transfers.TransferPlanner``)."""

from __future__ import annotations

import pytest

from aihubd.emulator import EmulatorConfig
from aihubd.emulator.transfers import TransferPlanner, opted_in, part_count

BIG = 1 << 20
SMALL = BIG - 1


def test_without_the_flag_always_one_url() -> None:
    for mode in ("url", "multipart", "credentials", "mixed"):
        planner = TransferPlanner(EmulatorConfig(transfer=mode))
        assert planner.upload("m1", BIG, opted=False) == "url"
        assert planner.download("m1", BIG, opted=False) == "url"


@pytest.mark.parametrize(
    ("mode", "upload", "download"),
    [("url", "url", "url"), ("multipart", "multipart", "url"), ("credentials", "credentials", "credentials")],
)
def test_fixed_modes(mode: str, upload: str, download: str) -> None:
    planner = TransferPlanner(EmulatorConfig(transfer=mode))
    for size in (0, SMALL, BIG):
        assert planner.upload(f"m{size}", size, opted=True) == upload
        assert planner.download(f"m{size}", size, opted=True) == download


def test_mixed_small_by_url_large_alternating_and_sticky() -> None:
    planner = TransferPlanner(EmulatorConfig(transfer="mixed", large_file_bytes=BIG))
    assert planner.upload("small", SMALL, opted=True) == "url"
    assert planner.download("small-down", SMALL, opted=True) == "url"
    assert planner.upload("a", BIG, opted=True) == "credentials"
    assert planner.upload("b", BIG, opted=True) == "multipart"
    assert planner.download("c", BIG, opted=True) == "credentials"
    assert planner.download("d", BIG, opted=True) == "url"
    # Asking again about the same object (a refreshed URL, say) gives the same variant.
    assert planner.upload("a", BIG, opted=True) == "credentials"
    assert planner.upload("b", BIG, opted=True) == "multipart"
    assert planner.download("d", BIG, opted=True) == "url"


def test_helpers() -> None:
    assert opted_in({"supports_s3_credentials": "True"}) and not opted_in({"supports_s3_credentials": "false"})
    assert not opted_in({})
    assert [part_count(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [1, 1, 1, 2, 2, 3]


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="transfer must be one of"):
        EmulatorConfig(transfer="ftp")
