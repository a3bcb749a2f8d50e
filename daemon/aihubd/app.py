"""Composition root: builds every part, starts them in order, stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sqlite3
from collections.abc import Callable

import grpc

from .config import DaemonConfig
from .errors import AihubdError
from .hub.budget import BudgetConfig, Lane, RequestBudget
from .hub.client import AiohttpHubClient
from .hub.credentials import HubCredentials, load_credentials
from .hub.retry import RetryPolicy
from .rpc.catalog_servicer import CatalogServicer
from .rpc.conn_limits import raise_fd_limit
from .rpc.daemon_servicer import DaemonServicer
from .rpc.linkjob_servicer import LinkJobServicer
from .rpc.server import start_server
from .rpc.socket_guard import claim_socket, prepare_socket_dir
from .rpc.standard_services import DaemonHealth
from .services.artifacts import ArtifactService
from .services.blob_audit import BlobAudit
from .services.daemon_check import DaemonCheck
from .services.daemon_status import DaemonFacts, DaemonStatusService
from .services.devices import DeviceCatalog
from .services.feed import FeedService
from .services.jobs import JobService
from .services.models import ModelService
from .services.sharing import SharingService
from .services.submissions import Submitter
from .services.uploads import UploadService
from .store.artifacts import ArtifactIndex
from .store.blobs import BlobStore
from .store.database import Database
from .store.deliveries import DeliveryJournal
from .store.dir_lock import hold_directory
from .store.events import EventLog
from .store.jobs import JobStore
from .store.submissions import SubmissionJournal
from .tracking.notifier import Notifier
from .tracking.poller import Poller
from .tracking.schedule import Cadence, Schedule

__all__ = ["StartupFailed", "serve"]

log = logging.getLogger("aihubd")

# The embedded emulator is a loopback test double; its token guards nothing real.
EMULATOR_TOKEN = "aihubd-embedded-emulator"


class StartupFailed(AihubdError):
    """Something the daemon needs at start-up is not usable (an unexpected OS or SQLite error)."""


class _Hangup:
    """SIGHUP re-reads the Hub credentials (a daemon's usual answer to HUP) instead of killing it."""

    def __init__(self) -> None:
        self.reload: Callable[[], HubCredentials] | None = None
        self.hub: AiohttpHubClient | None = None
        self.status: DaemonStatusService | None = None

    def __call__(self) -> None:
        if self.hub is None or self.status is None:
            log.info("SIGHUP during start-up: ignored")
            return
        if self.reload is None:
            log.info("SIGHUP: the embedded emulator has no credentials to re-read")
            return
        try:
            fresh = self.reload()
        except AihubdError as exc:
            log.warning("SIGHUP: could not re-read the Hub credentials, keeping the current ones: %s", exc)
            return
        self.hub.use_credentials(fresh)
        self.status.forget_account()
        log.info("SIGHUP: Hub credentials re-read from %s", fresh.source)


async def _start_emulator(config: DaemonConfig, stack: contextlib.AsyncExitStack) -> HubCredentials:
    from .emulator import EmulatorConfig, HubEmulator

    emulator = HubEmulator(
        EmulatorConfig(
            link_seconds=config.emulator_link_seconds,
            manual=config.emulator_manual,
            state_dir=config.emulator_state_dir,
            transfer=config.emulator_transfer,
        )
    )
    base_url = await emulator.start(host="127.0.0.1", port=0)
    stack.push_async_callback(emulator.stop)
    log.info("embedded Hub emulator at %s", base_url)
    if emulator.s3_endpoint_url is not None:
        # Where botocore (the credentials transfer path) finds the emulator's S3; not a secret.
        os.environ["AWS_ENDPOINT_URL_S3"] = emulator.s3_endpoint_url
        log.info("embedded Hub emulator's S3 endpoint at %s", emulator.s3_endpoint_url)
    return HubCredentials(api_url=base_url, web_url=base_url, token=EMULATOR_TOKEN, source="embedded emulator")


def _facts(config: DaemonConfig, credentials: HubCredentials) -> DaemonFacts:
    """What ``daemon status`` shows about this start (the embedded emulator's token included:
    it is a loopback test double's, so the official client can be pointed at it)."""
    return DaemonFacts(
        socket_path=str(config.socket_path),
        token_source=credentials.source,
        emulator_token=credentials.token if config.hub == "emulator" else "",
        state_dir=str(config.state_dir),
    )


async def _stop_server(server: grpc.aio.Server, health: DaemonHealth, notifier: Notifier, grace: float) -> None:
    await health.stopping()  # health watchers learn NOT_SERVING first
    notifier.close()  # waiters end with a final status before gRPC cuts anything
    await server.stop(grace)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(config: DaemonConfig, ready: Callable[[str], None] | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit code."""
    stop = asyncio.Event()
    hangup = _Hangup()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hangup)
    serving = False
    fd_limit = raise_fd_limit()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if config.hub != "emulator":  # refuse early, before touching the socket
                credentials = load_credentials(
                    token_file=config.token_file, api_url=config.hub_url, web_url=config.web_url
                )
                log.info("Hub %s (credentials from %s)", credentials.api_url, credentials.source)
            prepare_socket_dir(config.socket_path)
            stack.enter_context(claim_socket(config.socket_path))  # touches only a socket nobody listens on
            # Before anything reads or cleans up the state (the emulator's too): this daemon alone owns its directories.
            stack.enter_context(hold_directory(config.state_dir, "state dir", "--state-dir"))
            if config.cache_dir != config.state_dir:
                stack.enter_context(hold_directory(config.cache_dir, "cache dir", "--cache-dir"))
            if config.hub == "emulator":
                credentials = await _start_emulator(config, stack)

            db = await Database.open(config.database_path)
            stack.push_async_callback(db.close)
            reload = (
                None
                if config.hub == "emulator"
                else functools.partial(
                    load_credentials, token_file=config.token_file, api_url=config.hub_url, web_url=config.web_url
                )
            )
            retry = RetryPolicy(attempts=config.hub_retry_attempts, max_retry_after=config.hub_max_retry_after)
            budget = RequestBudget(
                BudgetConfig(
                    rate=config.hub_requests_per_second,
                    burst=config.hub_request_burst,
                    max_pause=config.hub_max_retry_after,
                )
            )
            hub = AiohttpHubClient(
                credentials,
                budget=budget,
                retry=retry,
                reload_credentials=reload,
            )
            stack.push_async_callback(hub.close)
            hangup.reload = reload
            store = JobStore(db, EventLog(db, keep=config.feed_history))
            resumed = await store.load_in_flight()
            notifier = Notifier()
            cadence = Cadence(
                base=config.poll_interval,
                cap=max(config.poll_interval, config.max_poll_interval),
                wait=config.wait_poll_interval,
            )
            poller = Poller(
                hub,
                store,
                notifier,
                Schedule(cadence),
                page_size=config.summaries_page_size,
                full_refresh=config.unchanged_job_refresh,
                adopt=config.hub_scope == "mine",
                check_pause=functools.partial(budget.check_pause, Lane.DEMAND),  # RefreshJobs fails fast
            )
            feed = FeedService(
                store,
                bookmark_interval=config.feed_bookmark_interval,
                buffer=config.feed_stream_buffer,
                poller=poller,
            )
            index = ArtifactIndex(db)
            blobs = BlobStore(config.cache_dir)
            jobs = JobService(hub, store, notifier, poller, hub_failing=hub.failing)
            uploads = UploadService(hub, index)
            devices = DeviceCatalog(hub)
            submitter = Submitter(
                hub,
                store,
                poller,
                uploads,
                SubmissionJournal(db),
                default_project=credentials.default_project,
                devices=devices,
                retry=retry,
            )
            artifacts = ArtifactService(
                hub,
                jobs,
                index,
                blobs,
                DeliveryJournal(db),
                cap_bytes=config.cache_max_bytes,
                hardlinks=config.hardlink_artifacts,
                prefetch=config.prefetch,
            )
            await artifacts.reconcile()
            stack.push_async_callback(artifacts.close)
            poller.on_finished(artifacts.job_finished)
            sharing = SharingService(hub, store)

            audit = BlobAudit(index, blobs, interval=config.blob_check_interval)
            status = DaemonStatusService(
                hub,
                jobs,
                lambda: artifacts.cached_bytes,
                _facts(config, credentials),
                watch_streams=lambda: feed.streams,
            )
            stack.push_async_callback(status.close)
            await status.start(wait=config.account_lookup_wait)
            hangup.hub, hangup.status = hub, status

            stack.push_async_callback(_cancel, asyncio.create_task(poller.run(), name="poller"))
            stack.push_async_callback(_cancel, asyncio.create_task(audit.run(), name="blob-audit"))
            health = DaemonHealth()
            server = await start_server(
                config.socket_path,
                LinkJobServicer(
                    jobs,
                    submitter,
                    artifacts,
                    sharing,
                    credentials.web_url,
                    feed,
                    write_timeout=config.stream_write_timeout,
                ),
                DaemonServicer(
                    status,
                    credentials.api_url,
                    credentials.web_url,
                    config.hub,
                    stop=stop.set,
                    check=DaemonCheck(db, audit),
                ),
                tcp_port=config.tcp_port,
                catalog=CatalogServicer(
                    ModelService(hub, uploads, artifacts, credentials.default_project), devices, credentials.web_url
                ),
                health=health,
                fd_limit=fd_limit,
                max_streams=config.max_streams,
                handshake_timeout=config.handshake_timeout,
            )
            stack.push_async_callback(_stop_server, server, health, notifier, config.shutdown_grace)
            stack.callback(feed.close)  # runs first: feed streams end before the server's grace
            log.info("serving on unix:%s (%d jobs in flight resumed)", config.socket_path, resumed)
            if ready is not None:
                ready(str(config.socket_path))
            serving = True
            await stop.wait()
            log.info("stopping")
    except (OSError, sqlite3.Error) as exc:
        if serving:
            raise
        raise StartupFailed(
            f"cannot start: {exc}; check that the paths aihubd uses are yours and writable "
            "(--state-dir, --cache-dir, --socket)"
        ) from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return 0
