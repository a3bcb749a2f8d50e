"""``EmulatorThread``: a ``HubEmulator`` on its own event loop in a daemon thread.

For synchronous callers (the official qai-hub client, sync tests)::

    with EmulatorThread(EmulatorConfig(manual=True)) as et:
        et.base_url; et.advance(job_id); et.counters()
        et.set_faults(FaultConfig(down=True)); et.faults(); et.revoke_token("t")
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from .app import HubEmulator
from .config import EmulatorConfig
from .faults import FaultConfig
from .requestlog import RequestShape

__all__ = ["EmulatorThread"]

_START_TIMEOUT = 30.0


class EmulatorThread:
    """Runs an emulator in a background thread; starts on ``__enter__``/``start()``."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = HubEmulator(config)
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[str] = Future()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            url = loop.run_until_complete(self.emulator.start(self._host, self._port))
        except BaseException as exc:  # report start failures to the caller
            self._ready.set_exception(exc)
            loop.close()
            return
        self._ready.set_result(url)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.emulator.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> str:
        """Start the thread and the emulator; return the base URL."""
        if self._thread is not None:
            raise RuntimeError("EmulatorThread already started")
        self._thread = threading.Thread(target=self._run, name="aihubd-emulator", daemon=True)
        self._thread.start()
        return self._ready.result(timeout=_START_TIMEOUT)

    def stop(self) -> None:
        """Stop the emulator and join the thread (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        if self._thread.is_alive() and self._ready.done() and self._ready.exception() is None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_START_TIMEOUT)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("EmulatorThread not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=_START_TIMEOUT)

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    @property
    def s3_endpoint_url(self) -> str | None:
        return self.emulator.s3_endpoint_url

    def requests(self, client: str | None = None) -> list[RequestShape]:
        return self.emulator.requests(client)

    def clear_requests(self) -> None:
        self.emulator.clear_requests()

    def counters(self) -> dict[str, int]:
        return self.emulator.counters()

    def job_get_counts(self) -> dict[str, int]:
        return self.emulator.job_get_counts()

    def reset_counters(self) -> None:
        self.emulator.reset_counters()

    @property
    def fault_config(self) -> FaultConfig:
        return self.emulator.fault_config

    def set_faults(self, config: FaultConfig | None = None) -> None:
        """Replace the fault injection (thread-safe; None: no faults)."""
        self.emulator.set_faults(config)

    def faults(self) -> dict[str, int]:
        return self.emulator.faults()

    def revoke_token(self, token: str) -> None:
        self.emulator.revoke_token(token)

    def restore_token(self, token: str) -> bool:
        return self.emulator.restore_token(token)

    def advance(self, job_id: str) -> int:
        """Move a job one step (runs on the emulator's loop); return its new state."""
        return int(self._call(self.emulator.advance(job_id)))
