"""``aihubctl jobs --since``: a duration back from now (``90s``, ``30m``, ``2h``, ``7d``) or a
local date/time (``2026-12-01``, ``2026-12-01T09:30``), as a naive local ``datetime`` like
``LinkJob.date``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import click

__all__ = ["SinceType"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


class SinceType(click.ParamType[datetime]):
    name = "when"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value)
        duration = _DURATION.match(text)
        if duration:
            amount, unit = float(duration.group(1)), _UNITS[duration.group(2).lower()]
            return datetime.now() - timedelta(**{unit: amount})
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            self.fail(
                f"{text!r} is neither a duration (90s, 30m, 2h, 7d, 1w) nor a date/time (2026-12-01, 2026-12-01T09:30)",
                param,
                ctx,
            )
        # An explicit offset is converted to local time; the daemon's dates are local and naive.
        return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment
