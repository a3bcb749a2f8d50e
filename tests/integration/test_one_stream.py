"""One stream per client process: 1000 waits of one process (threads, or asyncio tasks) cost the
daemon one server stream, not 1000, and every one of them gets its job's terminal state."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import Daemon, Emulator, refresh

from aihubd_client import AsyncClient, Client, DaemonInfo, LinkJob

DEVICE = "Snapdragon 8 Elite QRD"
JOBS = 100
WAITS_PER_JOB = 10  # 1000 waits in all
WAIT = 120.0


def _submit(client: Client, dlcs: tuple[Path, Path]) -> list[str]:
    return [client.submit_link_job(list(dlcs), DEVICE, name=f"one-{i}").job_id for i in range(JOBS)]


def _open_streams(info: DaemonInfo) -> int:
    return info.watch_streams + info.wait_streams


def _settles_at_one_stream(daemon_info: Callable[[], DaemonInfo]) -> None:
    """The daemon's open streams come down to 1 (a reopen may briefly show 0 or 2), bounded."""
    deadline = time.monotonic() + 30
    counts: list[int] = []
    while time.monotonic() < deadline:
        counts.append(_open_streams(daemon_info()))
        if counts[-1] == 1:
            return
        time.sleep(0.05)  # a poll interval, not synchronisation: the deadline bounds the loop
    raise AssertionError(f"the daemon kept {counts[-1]} streams open for 1000 waits (seen: {sorted(set(counts))})")


def _finish_all(emulator: Emulator, daemon: Daemon, job_ids: list[str]) -> None:
    for _ in range(2):  # CREATED -> LINKING_MODELS -> DONE
        for job_id in job_ids:
            emulator.advance(job_id)
        refresh(daemon.socket)


@pytest.mark.timeout(300)
def test_a_thousand_waiting_threads_share_one_daemon_stream(
    daemon: Daemon, emulator: Emulator, dlcs: tuple[Path, Path]
) -> None:
    with Client(daemon.socket) as client:
        job_ids = _submit(client, dlcs)
        jobs = [client.get_job(job_id) for job_id in job_ids for _ in range(WAITS_PER_JOB)]
        waiting = threading.Semaphore(0)
        finals: dict[int, str] = {}
        errors: list[BaseException] = []

        def wait(index: int, job: LinkJob) -> None:
            try:
                statuses = job.iter_status(timeout=WAIT)
                next(statuses)  # joined: the current status
                waiting.release()
                for status in statuses:
                    finals[index] = status.code
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                waiting.release()

        threads = [threading.Thread(target=wait, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        for _ in threads:
            assert waiting.acquire(timeout=WAIT)
        assert not errors, errors[:3]
        _settles_at_one_stream(client.daemon_info)

        _finish_all(emulator, daemon, job_ids)
        for thread in threads:
            thread.join(WAIT)
        assert not errors, errors[:3]
        assert len(finals) == len(jobs) and set(finals.values()) == {"SUCCESS"}
        assert _open_streams(client.daemon_info()) <= 1  # the last wait left: the stream goes


@pytest.mark.timeout(300)
def test_a_thousand_waiting_tasks_share_one_daemon_stream(
    daemon: Daemon, emulator: Emulator, dlcs: tuple[Path, Path]
) -> None:
    with Client(daemon.socket) as client:
        job_ids = _submit(client, dlcs)

    async def main() -> list[str]:
        async with AsyncClient(daemon.socket) as aclient:
            jobs = [await aclient.get_job(job_id) for job_id in job_ids for _ in range(WAITS_PER_JOB)]
            joined = 0
            all_joined = asyncio.Event()

            async def wait(job: object) -> str:
                nonlocal joined
                final = ""
                async for status in job.iter_status(timeout=WAIT):  # type: ignore[attr-defined]
                    if not final:
                        joined += 1
                        if joined == len(jobs):
                            all_joined.set()
                    final = status.code
                return final

            tasks = [asyncio.create_task(wait(job)) for job in jobs]
            async with asyncio.timeout(WAIT):
                await all_joined.wait()
            counts: list[int] = []
            deadline = time.monotonic() + 30
            while not counts or counts[-1] != 1:  # a reopen may briefly show 0 or 2 streams
                assert time.monotonic() < deadline, f"the daemon kept {counts[-1]} streams open for 1000 waits"
                if counts:
                    await asyncio.sleep(0.05)  # a poll interval; the deadline bounds the loop
                counts.append(_open_streams(await aclient.daemon_info()))
            await asyncio.to_thread(_finish_all, emulator, daemon, job_ids)
            return list(await asyncio.gather(*tasks))

    finals = asyncio.run(main())
    assert len(finals) == JOBS * WAITS_PER_JOB and set(finals) == {"SUCCESS"}
