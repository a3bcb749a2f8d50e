"""The Hub's device catalog as the daemon serves it: each query asked once an hour, typos answered.

A name the Hub does not know is answered with the closest real device names (``difflib``,
compared case-insensitively), so "snapdragon 8 elite qdr" says which name was meant.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence

from ..errors import InvalidArgument, NotFound
from ..hub.api import HubApi
from ..model import Device
from .validation import check_name

__all__ = ["DEVICE_TTL", "DeviceCatalog", "closest_names"]

DEVICE_TTL = 3600.0  # the Hub's device catalog changes rarely
MAX_ATTRIBUTES = 64
CLOSE_TIE = 0.05  # suggestions scoring within this of the best are named with it

_Query = tuple[str, str, tuple[str, ...]]


def closest_names(name: str, known: Sequence[str], limit: int = 3) -> list[str]:
    """The real names closest to ``name``, best first, ignoring case: those about as close as
    the best one (a clear winner is named alone)."""
    by_lower: dict[str, str] = {}
    for real in known:
        by_lower.setdefault(real.lower(), real)
    wanted = name.lower()
    matches = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=0.6)
    if not matches:
        return []
    scores = [difflib.SequenceMatcher(None, wanted, m).ratio() for m in matches]
    return [by_lower[m] for m, score in zip(matches, scores, strict=True) if score >= scores[0] - CLOSE_TIE]


def unknown_device(name: str, known: Sequence[str]) -> NotFound:
    """The error for a device name the Hub does not list, with the closest real names."""
    close = closest_names(name, known)
    if len(close) == 1:
        hint = f"did you mean {close[0]!r}?"
    elif close:
        hint = "did you mean one of " + ", ".join(repr(c) for c in close) + "?"
    else:
        hint = "`aihubctl devices` lists the device names"
    return NotFound(f"device {name!r} is not available on the Hub; {hint}")


class DeviceCatalog:
    """``get_devices`` through the daemon: every distinct query is sent to the Hub at most once per hour."""

    def __init__(self, hub: HubApi, ttl: float = DEVICE_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._hub = hub
        self._ttl = ttl
        self._clock = clock
        self._answers: dict[_Query, tuple[float, list[Device]]] = {}

    async def devices(self, name: str = "", os: str = "", attributes: Sequence[str] = ()) -> list[Device]:
        """Devices matching every filter; NOT_FOUND with the closest names for an unknown ``name``."""
        check_name(name, "device name")
        check_name(os, "os")
        if len(attributes) > MAX_ATTRIBUTES:
            raise InvalidArgument(f"{len(attributes)} attributes given; at most {MAX_ATTRIBUTES} are allowed")
        for attribute in attributes:
            check_name(attribute, "attribute")
        found = await self._ask(name, os, tuple(attributes))
        if name and not found and not os and not attributes:
            everything = await self._ask("", "", ())
            exact = [d for d in everything if d.name.lower() == name.lower()]
            if exact:  # the Hub matches names exactly; a different case is the same device here
                return exact
            raise unknown_device(name, [d.name for d in everything])
        return found

    async def real_name(self, name: str) -> str:
        """The Hub's spelling of a device name given in another case; NOT_FOUND with the closest
        names when no device has it."""
        everything = await self._ask("", "", ())
        for device in everything:
            if device.name.lower() == name.lower():
                return device.name
        raise unknown_device(name, [d.name for d in everything])

    async def _ask(self, name: str, os: str, attributes: tuple[str, ...]) -> list[Device]:
        key = (name, os, attributes)
        cached = self._answers.get(key)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._hub.list_devices(name, os, attributes)
        self._answers[key] = (now + self._ttl, found)
        return found
