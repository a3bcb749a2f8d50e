"""Fast set-up traffic to the emulator: the Hub's REST API with the official client's protobuf
messages (what the Hub itself speaks), and the emulator's ``/_emulator/`` admin endpoints.

Used only to create and move jobs quickly; the measured traffic always comes from the daemon or
the official client. Jobs are created on a model that was never uploaded, so the emulated link is
skipped (the job is planned to FAIL) and creating thousands of jobs is cheap; in manual mode they
stay in flight until advanced.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from qai_hub import public_api_pb2 as pb

__all__ = ["DEVICE", "MODEL_TYPE_QNN_DLC", "HubRest", "Window"]

DEVICE = "Snapdragon 8 Elite QRD"
MODEL_TYPE_QNN_DLC = 15
_PROTOBUF = "application/x-protobuf"
_TIMEOUT = aiohttp.ClientTimeout(total=120)


class HubRest:
    """``async with HubRest(url, token) as hub:`` — one keep-alive session."""

    def __init__(self, base_url: str, token: str, concurrency: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"token {token}", "Content-Type": _PROTOBUF}
        self._session: aiohttp.ClientSession | None = None
        self._gate = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> HubRest:
        self._session = aiohttp.ClientSession(
            timeout=_TIMEOUT, trust_env=False, connector=aiohttp.TCPConnector(limit=64)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use HubRest as an async context manager"
        return self._session

    async def _post_pb(self, path: str, message: object, reply_type: type) -> object:
        async with (
            self._gate,
            self.session.post(
                f"{self.base_url}{path}",
                data=message.SerializeToString(),  # type: ignore[attr-defined]
                headers=self._headers,
            ) as resp,
        ):
            body = await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"POST {path}: HTTP {resp.status}: {body[:200]!r}")
        reply = reply_type()
        reply.ParseFromString(body)
        return reply

    async def create_model(self, name: str = "bench.dlc") -> str:
        """A QNN DLC model record without content (jobs on it are planned to fail, no link runs)."""
        reply = await self._post_pb(
            "/api/v1/models/", pb.Model(name=name, model_type=MODEL_TYPE_QNN_DLC), pb.CreateUpdateResponse
        )
        return reply.id  # type: ignore[attr-defined]

    async def create_link_job(self, model_ids: Iterable[str], name: str = "") -> str:
        link = pb.LinkJob(
            models=pb.ModelList(models=[pb.Model(model_id=m) for m in model_ids]),
            device=pb.Device(name=DEVICE),
            name=name,
        )
        reply = await self._post_pb("/api/v1/jobs/", pb.Job(link_job=link), pb.CreateUpdateResponse)
        return reply.id  # type: ignore[attr-defined]

    async def create_jobs(self, count: int, model_id: str | None = None, name: str = "bench") -> list[str]:
        """``count`` in-flight link jobs (CREATED until advanced, in manual mode)."""
        model = model_id or await self.create_model()
        return list(await asyncio.gather(*(self.create_link_job([model], name) for _ in range(count))))

    async def _admin(self, method: str, path: str) -> dict:
        async with self._gate, self.session.request(method, f"{self.base_url}/_emulator/{path}") as resp:
            if resp.status >= 300:
                raise RuntimeError(f"{method} /_emulator/{path}: HTTP {resp.status}: {(await resp.read())[:200]!r}")
            return await resp.json()

    async def advance(self, job_id: str, steps: int = 1) -> int:
        state = 0
        for _ in range(steps):
            state = int((await self._admin("POST", f"jobs/{job_id}/advance"))["state"])
        return state

    async def finish(self, job_ids: Iterable[str]) -> None:
        """Advance every job to a terminal state (CREATED -> LINKING_MODELS -> DONE/FAILED)."""
        await asyncio.gather(*(self.advance(j, 2) for j in job_ids))

    async def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in (await self._admin("GET", "counters")).items()}

    async def reset_counters(self) -> None:
        await self._admin("POST", "counters/reset")

    async def watch_counters(self, seconds: float, every: float = 0.05) -> Window:
        """Reset the counters, then sample their total every ``every`` s for ``seconds``."""
        await self.reset_counters()
        t0 = time.monotonic()
        samples: list[tuple[float, int]] = [(0.0, 0)]
        counts: dict[str, int] = {}
        while True:
            left = seconds - (time.monotonic() - t0)
            await asyncio.sleep(max(0.0, min(every, left)))
            counts = await self.counters()
            t = time.monotonic() - t0
            samples.append((t, sum(counts.values())))
            if left <= every:
                return Window(samples, counts)


@dataclass
class Window:
    """Request counts sampled over a window: ``samples`` are (seconds since reset, total so far)."""

    samples: list[tuple[float, int]]
    by_endpoint: dict[str, int]

    @property
    def seconds(self) -> float:
        return self.samples[-1][0]

    @property
    def total(self) -> int:
        return self.samples[-1][1]

    @property
    def plain_rate(self) -> float:
        """Requests per second over the whole window."""
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def rate_per_s(self, min_gap: float = 0.2) -> float:
        """Requests per second, measured from one arrival to another instead of over the window.

        Arrivals (samples that saw new requests) are grouped into bursts separated by at least
        ``min_gap`` s of silence. With two or more bursts the rate is the requests from the start
        of the first burst up to the start of the last one, over the time between those starts:
        for periodic pollers that is a whole number of periods, so a window holding k+½ poll
        cycles is not counted as k or k+1 of them (a plain window's ±1-cycle quantization), and a
        burst spread over several samples is counted once. A steady stream (one long burst) is
        measured from its first to its last arrival. Fewer than three arrivals: the plain rate.
        """
        arrivals = [i for i in range(1, len(self.samples)) if self.samples[i][1] > self.samples[i - 1][1]]
        if len(arrivals) < 3:
            return self.plain_rate
        starts = [arrivals[0]]
        for prev, cur in itertools.pairwise(arrivals):
            if self.samples[cur][0] - self.samples[prev][0] >= min_gap:
                starts.append(cur)
        if len(starts) >= 2:
            first, last = starts[0], starts[-1]
            count = self.samples[last - 1][1] - self.samples[first - 1][1]
            seconds = self.samples[last][0] - self.samples[first][0]
        else:
            first, last = arrivals[0], arrivals[-1]
            count = self.samples[last][1] - self.samples[first][1]
            seconds = self.samples[last][0] - self.samples[first][0]
        return count / seconds if seconds > 0 else self.plain_rate

    @property
    def rate(self) -> float:
        """``rate_per_s()`` with the default burst gap."""
        return self.rate_per_s()

    def rate_rel_error(self, min_gap: float = 0.2) -> float:
        """The rate's relative standard error when requests come in equal bursts (one per poll
        cycle) whose spacing varies (jittered cycles): the spread of the gaps over √gaps. 0 for
        a steady stream, bursts of unequal sizes (many independent schedules: little noise) or
        fewer than 3 gaps."""
        arrivals = [i for i in range(1, len(self.samples)) if self.samples[i][1] > self.samples[i - 1][1]]
        starts = arrivals[:1]
        for prev, cur in itertools.pairwise(arrivals):
            if self.samples[cur][0] - self.samples[prev][0] >= min_gap:
                starts.append(cur)
        gaps = [self.samples[b][0] - self.samples[a][0] for a, b in itertools.pairwise(starts)]
        if len(gaps) < 3:
            return 0.0
        sizes = [self.samples[b - 1][1] - self.samples[a - 1][1] for a, b in itertools.pairwise(starts)]
        mean_size = sum(sizes) / len(sizes)
        if mean_size <= 0 or (max(sizes) - min(sizes)) > 0.25 * mean_size:
            return 0.0
        mean = sum(gaps) / len(gaps)
        var = sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)
        return (var**0.5) / mean / len(gaps) ** 0.5 if mean > 0 else 0.0
