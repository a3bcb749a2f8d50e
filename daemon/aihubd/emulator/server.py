"""Standalone emulator process, used by ``aihubd emulator``."""

from __future__ import annotations

import asyncio
import signal
import sys

from .app import HubEmulator
from .config import EmulatorConfig

__all__ = ["run_forever", "serve"]


async def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until SIGTERM or SIGINT; print the base URL as the first stdout line and, when
    the transfer mode hands out S3 credentials, ``s3: <endpoint URL>`` as the second."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    emulator = HubEmulator(config)
    try:
        base_url = await emulator.start(host, port)
        sys.stdout.write(base_url + "\n")
        if emulator.s3_endpoint_url is not None:
            sys.stdout.write(f"s3: {emulator.s3_endpoint_url}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await emulator.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run_forever(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> int:
    """Blocking entry point: serve until SIGTERM/SIGINT, then return 0."""
    asyncio.run(serve(config, host, port))
    return 0
