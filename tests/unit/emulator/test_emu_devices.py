"""Device catalog filters."""

from __future__ import annotations

from aihubd.emulator.devices import CATALOG, find_devices, os_matches


def test_catalog_has_required_devices() -> None:
    by_name = {d.name: d for d in CATALOG}
    assert "framework:qnn" in by_name["Samsung Galaxy S24 (Family)"].attributes
    assert "framework:qnn" in by_name["Snapdragon 8 Elite QRD"].attributes
    assert any("framework:qnn" not in d.attributes for d in CATALOG)


def test_filters() -> None:
    assert len(find_devices()) == len(CATALOG)
    assert [d.name for d in find_devices(name="Snapdragon 8 Elite QRD")] == ["Snapdragon 8 Elite QRD"]
    assert len(find_devices(select=True)) == 1
    assert find_devices(name="nope") == []
    qnn_android = find_devices(attributes=["framework:qnn", "os:android"])
    assert qnn_android and all("os:android" in d.attributes for d in qnn_android)
    assert [d.name for d in find_devices(name="Snapdragon 8 Elite QRD", os="14")] == []


def test_os_matching() -> None:
    assert os_matches("14", "") and os_matches("14", "14") and os_matches("14.1", "14")
    assert not os_matches("15", "14") and not os_matches("14", "14.1")
    assert os_matches("14", "[13,15)") and not os_matches("15", "[13,15)")
    assert os_matches("15", "[13,15]") and not os_matches("13", "(13,15]")
    assert os_matches("20", "[14,)") and not os_matches("13", "[14,)")
