"""Composition root: builds every part, starts them in order, stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Callable

import grpc

from .config import DaemonConfig
from .hub.budget import BudgetConfig, RequestBudget
from .hub.client import AiohttpHubClient
from .hub.credentials import HubCredentials, load_credentials
from .hub.retry import RetryPolicy
from .rpc.daemon_servicer import DaemonServicer
from .rpc.linkjob_servicer import LinkJobServicer
from .rpc.server import start_server
from .rpc.socket_guard import claim_socket, prepare_socket_dir
from .services.artifacts import ArtifactService
from .services.daemon_status import DaemonStatusService
from .services.jobs import JobService
from .services.sharing import SharingService
from .services.submissions import Submitter
from .services.uploads import UploadService
from .store.artifacts import ArtifactIndex
from .store.blobs import BlobStore
from .store.database import Database
from .store.deliveries import DeliveryJournal
from .store.jobs import JobStore
from .store.submissions import SubmissionJournal
from .tracking.notifier import Notifier
from .tracking.poller import Poller
from .tracking.schedule import Cadence, Schedule

__all__ = ["serve"]

log = logging.getLogger("aihubd")

# The embedded emulator is a loopback test double; its token guards nothing real.
EMULATOR_TOKEN = "aihubd-embedded-emulator"


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


async def _stop_server(server: grpc.aio.Server, notifier: Notifier, grace: float) -> None:
    notifier.close()  # waiters end with a final status before gRPC cuts anything
    await server.stop(grace)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(config: DaemonConfig, ready: Callable[[str], None] | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if config.hub != "emulator":  # refuse early, before touching the socket
                credentials = load_credentials(
                    token_file=config.token_file, api_url=config.hub_url, web_url=config.web_url
                )
                log.info("Hub %s (credentials from %s)", credentials.api_url, credentials.source)
            prepare_socket_dir(config.socket_path)
            stack.enter_context(claim_socket(config.socket_path))
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
            hub = AiohttpHubClient(
                credentials,
                budget=RequestBudget(
                    BudgetConfig(
                        rate=config.hub_requests_per_second,
                        burst=config.hub_request_burst,
                        max_pause=config.hub_max_retry_after,
                    )
                ),
                retry=retry,
                reload_credentials=reload,
            )
            stack.push_async_callback(hub.close)
            store = JobStore(db)
            resumed = await store.load_in_flight()
            notifier = Notifier()
            cadence = Cadence(base=config.poll_interval, cap=max(config.poll_interval, config.max_poll_interval))
            poller = Poller(
                hub,
                store,
                notifier,
                Schedule(cadence),
                page_size=config.summaries_page_size,
                full_refresh=config.unchanged_job_refresh,
            )
            index = ArtifactIndex(db)
            jobs = JobService(hub, store, notifier, poller)
            submitter = Submitter(
                hub,
                store,
                poller,
                UploadService(hub, index),
                SubmissionJournal(db),
                default_project=credentials.default_project,
                retry=retry,
            )
            artifacts = ArtifactService(
                hub,
                jobs,
                index,
                BlobStore(config.cache_dir),
                DeliveryJournal(db),
                cap_bytes=config.cache_max_bytes,
                hardlinks=config.hardlink_artifacts,
                prefetch=config.prefetch,
            )
            await artifacts.reconcile()
            stack.push_async_callback(artifacts.close)
            poller.on_finished(artifacts.job_finished)
            sharing = SharingService(hub)

            stack.push_async_callback(_cancel, asyncio.create_task(poller.run(), name="poller"))
            server = await start_server(
                config.socket_path,
                LinkJobServicer(jobs, submitter, artifacts, sharing, credentials.web_url),
                DaemonServicer(
                    DaemonStatusService(hub, jobs, lambda: artifacts.cached_bytes),
                    credentials.api_url,
                    credentials.web_url,
                    config.hub,
                ),
                tcp_port=config.tcp_port,
            )
            stack.push_async_callback(_stop_server, server, notifier, config.shutdown_grace)
            log.info("serving on unix:%s (%d jobs in flight resumed)", config.socket_path, resumed)
            if ready is not None:
                ready(str(config.socket_path))
            await stop.wait()
            log.info("stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return 0
