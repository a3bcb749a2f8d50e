"""``HubEmulator``: builds the aiohttp application and runs it on a TCP port."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import web

from .blob_replies import stamp_etag
from .blobs import BlobStore
from .config import EmulatorConfig
from .counters import Counters
from .faults import FaultConfig, FaultInjector
from .middleware import authenticate, count_requests, error_replies, inject_faults, log_requests
from .persistence import flush_loop, load_state, save_state
from .requestlog import RequestLog, RequestShape
from .routes_admin import add_admin_routes
from .routes_blobs import add_blob_routes
from .routes_jobs import add_job_routes
from .routes_models import add_model_routes
from .s3 import S3Endpoint
from .signing import UrlSigner
from .state import EmulatorState
from .transfers import TransferPlanner
from .web_util import BLOBS, COUNTERS, FAULTS, PLANNER, REQUEST_LOG, S3, SIGNER, STATE

__all__ = ["HubEmulator"]

_SHUTDOWN_GRACE_SECONDS = 2.0
_MAX_BODY_BYTES = 4 * 1024**3


class HubEmulator:
    """One emulated Hub: ``await start()`` → serve → ``await stop()``. Single use.

    ``clock`` is the wall clock of the job life cycle and URL signing; ``sleep`` is
    what the ``"slow"`` fault awaits (tests may pass a fake).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.state = EmulatorState(self.config, clock)
        self._counters = Counters()
        self._request_log = RequestLog()
        self._s3: S3Endpoint | None = None
        self._faults = FaultInjector(self.config.faults, sleep)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._state_dir: Path | None = None
        self._temp_dir: Path | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._blob_store: BlobStore | None = None
        self._started = False

    # ------------------------------------------------------------ lifecycle
    def _prepare_state_dir(self) -> Path:
        if self.config.state_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="aihubd-emulator-"))
            return self._temp_dir
        state_dir = Path(self.config.state_dir).expanduser().resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        self._state_dir = state_dir
        load_state(self.state, state_dir)
        return state_dir

    def build_app(self, root: Path) -> web.Application:
        """The aiohttp application, with its blobs under ``root / "blobs"``."""
        app = web.Application(
            middlewares=[log_requests, count_requests, inject_faults, error_replies, authenticate],
            client_max_size=_MAX_BODY_BYTES,
        )
        app.on_response_prepare.append(stamp_etag)  # S3's ETag on blob file replies
        app.on_response_prepare.append(self._stamp_date)  # the Hub's Date is the Hub's clock
        app[STATE] = self.state
        self._blob_store = app[BLOBS] = BlobStore(root / "blobs")
        app[SIGNER] = UrlSigner(self.state.secret, self.config.url_ttl_seconds, self.state.clock)
        app[COUNTERS] = self._counters
        app[FAULTS] = self._faults
        app[REQUEST_LOG] = self._request_log
        app[PLANNER] = TransferPlanner(self.config)
        if self._s3 is not None:
            app[S3] = self._s3
        add_model_routes(app.router)
        add_job_routes(app.router)
        add_blob_routes(app.router)
        add_admin_routes(app.router)
        return app

    async def _stamp_date(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer's ``Date`` from the emulator's clock (the one its jobs' times come from)."""
        response.headers["Date"] = formatdate(self.state.clock(), usegmt=True)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; return the base URL ``http://HOST:PORT`` (port 0 → a free port)."""
        if self._started:
            raise RuntimeError("a HubEmulator can only be started once")
        self._started = True
        root = self._prepare_state_dir()
        if self.config.uses_s3:
            s3 = S3Endpoint(host if host and ":" not in host else "127.0.0.1", self.state.clock)
            await asyncio.to_thread(s3.start)
            self._s3 = s3
        app = self.build_app(root)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._stop_s3()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = host or bound_host
        if ":" in shown:
            shown = f"[{shown}]"
        self._base_url = f"http://{shown}:{bound_port}"
        if self._state_dir is not None:
            self._flush_task = asyncio.create_task(flush_loop(self.state, self._state_dir))
        return self._base_url

    async def _stop_s3(self) -> None:
        if self._s3 is not None:
            await asyncio.to_thread(self._s3.stop)
            self._s3 = None

    async def stop(self) -> None:
        """Stop serving (and the S3 endpoint), persist the state (if a state dir is set),
        drop a temp dir."""
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
            self._flush_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._stop_s3()
        if self._state_dir is not None:
            save_state(self.state, self._state_dir)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def __aenter__(self) -> HubEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------- queries
    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` without a trailing slash; only after ``start()``."""
        if self._base_url is None:
            raise RuntimeError("the emulator has not been started")
        return self._base_url

    @property
    def s3_endpoint_url(self) -> str | None:
        """``http://HOST:PORT`` of the S3 endpoint (for ``AWS_ENDPOINT_URL_S3``), or None
        when the transfer mode hands out no credentials; only after ``start()``."""
        return self._s3.url if self._s3 is not None else None

    def requests(self, client: str | None = None) -> list[RequestShape]:
        """The request log (of one client's email, when given), oldest first."""
        return self._request_log.entries(client)

    def clear_requests(self) -> None:
        self._request_log.clear()

    @property
    def blob_store(self) -> BlobStore:
        """Where the served files live (for tests comparing downloads)."""
        if self._blob_store is None:
            raise RuntimeError("the emulator has not been started")
        return self._blob_store

    def counters(self) -> dict[str, int]:
        """Requests per ``"<METHOD> <route template>"`` since start or the last reset."""
        return self._counters.endpoints()

    def job_get_counts(self) -> dict[str, int]:
        """``GET /api/v1/jobs/{job_id}/`` requests per job id."""
        return self._counters.job_gets()

    def reset_counters(self) -> None:
        """Clear the request counters, the per-job counts and the fault counts."""
        self._counters.reset()

    # -------------------------------------------------------------- faults
    @property
    def fault_config(self) -> FaultConfig:
        """The fault injection in force."""
        return self._faults.config

    def set_faults(self, config: FaultConfig | None = None) -> None:
        """Replace the fault injection (None: no faults); re-seeds its generator.
        Takes effect for the next request; the fault counts are kept."""
        self._faults.set_config(config if config is not None else FaultConfig())

    def faults(self) -> dict[str, int]:
        """Injected faults per kind since start or the last ``reset_counters``
        (kinds of ``faults.KINDS``, plus ``"down"`` and ``"revoked-token"``)."""
        return self._counters.faults()

    def revoke_token(self, token: str) -> None:
        """From now on every API request with ``token`` gets 401."""
        self._faults.revoke(token)

    def restore_token(self, token: str) -> bool:
        """Undo ``revoke_token``; True if the token was revoked."""
        return self._faults.restore(token)

    async def advance(self, job_id: str) -> int:
        """Move a job one step now (works in any mode); return its new state value."""
        return self.state.advance(job_id).state
