"""The emulator's device catalog and the ``GET /api/v1/devices/`` filter.

Names and attributes follow the real Hub's catalog. "Apple iPhone 15 Pro" has no
``framework:qnn`` attribute, so a link job for it fails the client's
"does not support QNN model input" check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATALOG", "DeviceSpec", "find_devices", "os_matches"]


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the catalog."""

    name: str
    os: str
    attributes: tuple[str, ...]
    soc_description: str = ""


def _android(chipset: str, hexagon: str, manufacturer: str, fmt: str = "phone") -> tuple[str, ...]:
    return (
        f"chipset:{chipset}",
        f"format:{fmt}",
        "framework:onnx",
        "framework:qnn",
        "framework:tflite",
        f"hexagon:{hexagon}",
        "htp-supports-fp16:true",
        f"manufacturer:{manufacturer}",
        "os:android",
        "vendor:qualcomm",
    )


CATALOG: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "Samsung Galaxy S24 (Family)",
        "14",
        _android("qualcomm-snapdragon-8gen3", "v75", "samsung"),
        "Snapdragon® 8 Gen 3 Mobile",
    ),
    DeviceSpec(
        "Snapdragon 8 Elite QRD",
        "15",
        _android("qualcomm-snapdragon-8-elite", "v79", "qualcomm"),
        "Snapdragon® 8 Elite Mobile",
    ),
    DeviceSpec(
        "Samsung Galaxy S23 (Family)",
        "13",
        _android("qualcomm-snapdragon-8gen2", "v73", "samsung"),
        "Snapdragon® 8 Gen 2 Mobile",
    ),
    DeviceSpec(
        "Snapdragon X Elite CRD",
        "11",
        (
            "chipset:qualcomm-snapdragon-x-elite",
            "format:compute",
            "framework:onnx",
            "framework:qnn",
            "hexagon:v73",
            "htp-supports-fp16:true",
            "manufacturer:qualcomm",
            "os:windows",
            "vendor:qualcomm",
        ),
        "Snapdragon® X Elite",
    ),
    DeviceSpec(
        "Apple iPhone 15 Pro",
        "17",
        ("chipset:apple-a17-pro", "format:phone", "framework:coreml", "os:ios", "vendor:apple"),
        "Apple A17 Pro",
    ),
)

_INTERVAL = re.compile(r"^\s*([\[(])\s*([0-9.]*)\s*,\s*([0-9.]*)\s*([\])])\s*$")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def os_matches(device_os: str, wanted: str) -> bool:
    """Whether ``device_os`` satisfies ``wanted``: empty, a version prefix, or an interval.

    ``"14"`` matches ``"14"`` and ``"14.1"``; ``"[13,15)"`` matches 13 and 14.
    """
    wanted = wanted.strip()
    if not wanted:
        return True
    interval = _INTERVAL.match(wanted)
    if interval is None:
        want = _version(wanted)
        return bool(want) and _version(device_os)[: len(want)] == want
    left, low, high, right = interval.groups()
    have = _version(device_os)
    if low:
        bound = _version(low)
        if have < bound or (left == "(" and have == bound):
            return False
    if high:
        bound = _version(high)
        if have > bound or (right == ")" and have[: len(bound)] >= bound):
            return False
    return True


def find_devices(
    name: str = "",
    os: str = "",
    attributes: list[str] | None = None,
    select: bool = False,
    catalog: tuple[DeviceSpec, ...] = CATALOG,
) -> list[DeviceSpec]:
    """Devices matching every given filter; with ``select`` at most one."""
    wanted = set(attributes or [])
    matches = [
        device
        for device in catalog
        if (not name or device.name == name) and os_matches(device.os, os) and wanted.issubset(device.attributes)
    ]
    return matches[:1] if select else matches
