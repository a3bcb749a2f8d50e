"""What every scenario shares: sizes per profile, the run context, daemon flags, statistics."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from . import procs
from .report import Report

__all__ = ["DEVICE", "PROFILES", "Ctx", "aio_stub", "gather_limited", "median", "percentile"]

DEVICE = "Snapdragon 8 Elite QRD"
T = TypeVar("T")

# Sizes of each scenario per profile. "full" is `make bench`; "quick" a reduced run; "smoke" the
# toy size the unit tests run (seconds, proves the harness works, its verdicts mean nothing).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "requests": {
            "clients": [1, 10, 50],
            "jobs": [1, 20, 200],
            "interval": 1.0,
            "daemon_window": 6.0,
            "official_window": 2.0,
            "official_budget": 220.0,
            "page": 50,
            "settle": 0.75,
        },
        "notify": {"waiters": [1, 100, 1000], "jobs_per_size": 1, "settle": 1.0},
        "reads": {"concurrency": [1, 16, 64], "duration": 2.0, "warmup": 0.2, "rounds": 2},
        "delivery": {"size": 256 << 20, "repeat": 5},
        "scale": {
            "in_flight": 10_000,
            "db_jobs": 100_000,
            "db_in_flight": 1000,
            "cycles": 2,
            "starts": 3,
            "watchers": 100,
        },
        "node": {"concurrency": [1, 16, 64], "duration": 2.0, "warmup": 0.2, "rounds": 2},
        "resume": {"jobs": 20, "rate": 100.0, "before": 5.0, "after": 5.0},
        "upload": {"size": 1 << 30, "repeat": 2},
        "notice": {"link_seconds": 90.0, "jobs": 10, "stagger": 7.3},
        "watchers": {"watchers": 100, "changes": 500, "rate": 100.0, "timeout": 120.0},
        "busy": {"size": 1 << 30, "idle": 3.0, "warmup": 0.2, "piece": 1.0},
        "waits": {"waiters": 1000, "procs": 20, "per_proc": 50, "rounds": 5, "settle": 1.0, "timeout": 120.0},
    },
    "quick": {
        "requests": {
            "clients": [1, 10],
            "jobs": [1, 20],
            "interval": 1.0,
            "daemon_window": 4.0,
            "official_window": 2.0,
            "official_budget": 220.0,
            "page": 50,
            "settle": 1.0,
        },
        "notify": {"waiters": [1, 100, 1000], "jobs_per_size": 1, "settle": 1.0},
        "reads": {"concurrency": [1, 16, 64], "duration": 1.0, "warmup": 0.2, "rounds": 2},
        "delivery": {"size": 64 << 20, "repeat": 2},
        "scale": {
            "in_flight": 2000,
            "db_jobs": 100_000,
            "db_in_flight": 200,
            "cycles": 2,
            "starts": 1,
            "watchers": 100,
        },
        "node": {"concurrency": [1, 16, 64], "duration": 1.0, "warmup": 0.2, "rounds": 2},
        "resume": {"jobs": 10, "rate": 100.0, "before": 2.0, "after": 2.0},
        "upload": {"size": 128 << 20, "repeat": 2},
        "notice": {"link_seconds": 12.0, "jobs": 4, "stagger": 1.3},
        "watchers": {"watchers": 100, "changes": 200, "rate": 100.0, "timeout": 60.0},
        "busy": {"size": 256 << 20, "idle": 2.0, "warmup": 0.2, "piece": 1.0},
        "waits": {"waiters": 1000, "procs": 20, "per_proc": 50, "rounds": 2, "settle": 1.0, "timeout": 60.0},
    },
    "smoke": {
        "requests": {
            "clients": [1, 2],
            "jobs": [2],
            "interval": 0.5,
            "daemon_window": 1.0,
            "official_window": 0.5,
            "official_budget": 220.0,
            "page": 50,
            "settle": 0.5,
        },
        "notify": {"waiters": [1, 20], "jobs_per_size": 1, "settle": 0.3},
        "reads": {"concurrency": [1, 4], "duration": 0.4, "warmup": 0.1, "rounds": 1},
        "delivery": {"size": 2 << 20, "repeat": 1},
        "scale": {"in_flight": 100, "db_jobs": 1000, "db_in_flight": 10, "cycles": 1, "starts": 1, "watchers": 3},
        "node": {"concurrency": [1, 4], "duration": 0.4, "warmup": 0.1, "rounds": 1},
        "resume": {"jobs": 3, "rate": 50.0, "before": 0.5, "after": 0.5},
        "upload": {"size": 4 << 20, "repeat": 1},
        "notice": {"link_seconds": 4.0, "jobs": 1, "stagger": 1.0},
        "watchers": {"watchers": 3, "changes": 5, "rate": 50.0, "timeout": 30.0},
        "busy": {"size": 4 << 20, "idle": 0.3, "warmup": 0.1, "piece": 0.2},
        "waits": {"waiters": 20, "procs": 2, "per_proc": 5, "rounds": 1, "settle": 0.3, "timeout": 30.0},
    },
}

# Set on every daemon the bench starts (when the daemon knows the flag): the request budget must
# never be what a measurement measures.
HUB_RATE = "1000"


@dataclass
class Ctx:
    """One bench run: where to put files, how big to go, where results go."""

    workdir: Path
    profile: str
    report: Report
    _serve_flags: set[str] | None = field(default=None, repr=False)

    def params(self, scenario: str) -> dict[str, Any]:
        return dict(PROFILES[self.profile][scenario])

    def subdir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def serve_flags(self) -> set[str]:
        """The long options ``aihubd serve --help`` lists (the daemon evolves; never pass unknown ones)."""
        if self._serve_flags is None:
            out = subprocess.run(
                [sys.executable, "-m", "aihubd", "serve", "--help"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env=procs.child_env(),
                cwd=str(procs.REPO),
            )
            self._serve_flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout))
        return self._serve_flags

    def daemon_flags(self, wanted: dict[str, str | None]) -> list[str]:
        """``wanted`` as CLI arguments, leaving out (and noting) flags this daemon does not have."""
        known = self.serve_flags()
        args: list[str] = []
        for flag, value in wanted.items():
            if flag not in known:
                self.report.note(f"this aihubd has no {flag}; ran without it")
                continue
            args.append(flag)
            if value is not None:
                args.append(value)
        return args


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def aio_stub(target: str) -> tuple[grpc.aio.Channel, api_grpc.LinkJobServiceStub, api_grpc.DaemonServiceStub]:
    channel = grpc.aio.insecure_channel(
        target, options=[("grpc.enable_http_proxy", 0), ("grpc.max_receive_message_length", 8 << 20)]
    )
    return channel, api_grpc.LinkJobServiceStub(channel), api_grpc.DaemonServiceStub(channel)


async def gather_limited(items: Iterable[T], fn: Callable[[T], Awaitable[Any]], limit: int = 32) -> list[Any]:
    """``fn(item)`` for every item, at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def track_all(stub: api_grpc.LinkJobServiceStub, job_ids: Iterable[str], limit: int = 32) -> list[api.Job]:
    """The daemon adopts every job (its public TrackJob RPC)."""
    return await gather_limited(job_ids, lambda j: stub.TrackJob(api.TrackJobRequest(job_id=j), timeout=120), limit)
