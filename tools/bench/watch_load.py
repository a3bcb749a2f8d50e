"""`make bench` watcher fleet in Python (tools/bench/scenario_watchers.py): ``--watchers`` streams of
``AsyncClient.watch_jobs`` on one client. Prints "ready" once every stream has its listing, then
records when each watcher receives each rename ``<prefix><i>`` (epoch ms); once every watcher has
all ``--changes`` of them (or ``--timeout`` s passed) prints one JSON line:
``{"arrivals": [[ms | null, ...] per watcher], "dupes": n}``. clients/node/bench/watch-load.ts is
the same fleet in Node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

from aihubd_client import AsyncClient


async def _watch(
    client: AsyncClient, mine: list[float | None], prefix: str, listed: asyncio.Event, count: list[int], total: int
) -> int:
    """One watcher until it has every change; returns how many it got twice."""
    dupes = seen = 0
    async for event in client.watch_jobs():
        if event.kind == "SNAPSHOT_END":
            count[0] += 1
            if count[0] == total:
                listed.set()
            continue
        name = event.job.name if event.job is not None else ""
        if event.kind != "CHANGED" or not name.startswith(prefix):
            continue
        index = int(name[len(prefix) :])
        if not 0 <= index < len(mine):
            continue
        if mine[index] is not None:
            dupes += 1
            continue
        mine[index] = time.time() * 1000
        seen += 1
        if seen == len(mine):
            break
    return dupes


async def _main(args: argparse.Namespace) -> None:
    arrivals: list[list[float | None]] = [[None] * args.changes for _ in range(args.watchers)]
    listed = asyncio.Event()
    count = [0]
    dupes = 0
    async with AsyncClient(args.socket) as client:
        tasks = [
            asyncio.create_task(_watch(client, mine, args.prefix, listed, count, args.watchers)) for mine in arrivals
        ]
        await listed.wait()
        print("ready", flush=True)
        done, pending = await asyncio.wait(tasks, timeout=args.timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        dupes = sum(task.result() for task in done)
    print(json.dumps({"arrivals": arrivals, "dupes": dupes}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--prefix", default="bench-watch #")
    parser.add_argument("--timeout", type=float, default=300.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
