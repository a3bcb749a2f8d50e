"""The daemon's device catalog: one Hub request per query an hour (fake clock), typo'd names
answered with the closest real names, compared case-insensitively."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aihubd.errors import NotFound
from aihubd.model import Device
from aihubd.services.devices import DEVICE_TTL, DeviceCatalog, closest_names

CATALOG = [
    Device("Snapdragon 8 Elite QRD", "15", ("framework:qnn",)),
    Device("Snapdragon X Elite CRD", "11", ("framework:qnn",)),
    Device("Samsung Galaxy S24", "14", ("framework:qnn", "chipset:8gen3")),
]


class CountingHub:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    async def list_devices(self, name: str = "", os: str = "", attributes: Sequence[str] = ()) -> list[Device]:
        self.asked.append((name, os, tuple(attributes)))
        return [d for d in CATALOG if (not name or d.name == name) and set(attributes) <= set(d.attributes)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _catalog() -> tuple[DeviceCatalog, CountingHub, Clock]:
    hub, clock = CountingHub(), Clock()
    return DeviceCatalog(hub, clock=clock), hub, clock  # type: ignore[arg-type]


def test_each_query_is_asked_once_an_hour():
    catalog, hub, clock = _catalog()
    run = asyncio.run
    assert len(run(catalog.devices())) == 3
    assert len(run(catalog.devices())) == 3
    assert run(catalog.devices(attributes=["chipset:8gen3"]))[0].name == "Samsung Galaxy S24"
    assert hub.asked == [("", "", ()), ("", "", ("chipset:8gen3",))]
    clock.now += DEVICE_TTL + 1
    run(catalog.devices())
    assert len(hub.asked) == 3


def test_a_typo_names_the_closest_device():
    catalog, _, _ = _catalog()
    with pytest.raises(NotFound, match=r"did you mean 'Snapdragon 8 Elite QRD'\?$"):
        asyncio.run(catalog.devices(name="snapdragon 8 elite qdr"))


def test_another_case_is_the_same_device():
    catalog, _, _ = _catalog()
    (device,) = asyncio.run(catalog.devices(name="SNAPDRAGON 8 ELITE QRD"))
    assert device.name == "Snapdragon 8 Elite QRD"
    assert asyncio.run(catalog.real_name("samsung galaxy s24")) == "Samsung Galaxy S24"


def test_nothing_close_points_at_the_device_list():
    catalog, _, _ = _catalog()
    with pytest.raises(NotFound, match="`aihubctl devices` lists the device names"):
        asyncio.run(catalog.devices(name="Pixel 9"))


def test_close_names_of_similar_quality_are_all_named():
    names = [d.name for d in CATALOG]
    assert sorted(closest_names("Snapdragon Elite", names)) == ["Snapdragon 8 Elite QRD", "Snapdragon X Elite CRD"]
    assert closest_names("Snapdragon 8 Elite QRD", names)[0] == "Snapdragon 8 Elite QRD"
