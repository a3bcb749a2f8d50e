"""DaemonConfig: everything ``aihubd serve`` was told, frozen; defaults from the user's dirs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from aihubd_client.socket_path import APP_NAME, default_socket_path

__all__ = ["DaemonConfig", "default_cache_dir", "default_state_dir"]

HubKind = Literal["hub", "emulator"]


def default_state_dir(hub: HubKind) -> Path:
    """``~/.local/state/aihubd`` for the real Hub; a separate ``emulator/`` below it, so
    emulated jobs never mix with real ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = platformdirs.user_state_path(APP_NAME)
    return base / "emulator" if hub == "emulator" else base


def default_cache_dir(hub: HubKind) -> Path:
    """``~/.cache/aihubd`` (``emulator/`` below it for the emulator)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = platformdirs.user_cache_path(APP_NAME)
    return base / "emulator" if hub == "emulator" else base


@dataclass(frozen=True)
class DaemonConfig:
    socket_path: Path
    state_dir: Path
    cache_dir: Path
    hub: HubKind = "hub"
    hub_url: str | None = None
    web_url: str | None = None
    token_file: Path | None = None
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    wait_poll_interval: float = 10.0  # the longest gap while a client waits (the official wait()'s)
    hub_scope: str = "mine"  # "mine": follow every link job of the user; "tracked": only those tracked
    summaries_page_size: int = 50
    hub_requests_per_second: float = 10.0
    hub_request_burst: int = 20
    hub_max_retry_after: float = 300.0  # the longest Retry-After pause of all Hub traffic honoured
    hub_retry_attempts: int = 7  # per Hub request while the Hub is unavailable (the official client: 7)
    unchanged_job_refresh: float = 300.0  # full GET of a job whose listing row cannot show changes
    cache_max_bytes: int = 20 << 30
    hardlink_artifacts: bool = True
    prefetch: bool = True
    tcp_port: int | None = None
    shutdown_grace: float = 5.0
    account_lookup_wait: float = 2.0  # at start-up, before serving; the look-up goes on afterwards
    blob_check_interval: float = 24 * 3600.0  # seconds between digest checks of the whole cache
    emulator_link_seconds: float = 3.0
    emulator_manual: bool = False
    # The job feed (WatchJobs): revisions of history kept for resuming, the idle streams' bookmark
    # interval (seconds), and how many changes one stream may fall behind before it is ended.
    feed_history: int = 10_000
    feed_bookmark_interval: float = 30.0
    feed_stream_buffer: int = 1000
    emulator_transfer: str = "mixed"  # EmulatorConfig.transfer of the embedded emulator
    # Connections and streams (rpc/conn_limits.py): open server streams per peer, seconds a new
    # connection has to speak HTTP/2, seconds a stream's write may wait for its reader.
    max_streams: int = 5000
    handshake_timeout: float = 10.0
    stream_write_timeout: float = 60.0

    @property
    def database_path(self) -> Path:
        return self.state_dir / "aihubd.db"

    @property
    def emulator_state_dir(self) -> Path:
        return self.state_dir / "hub-emulator"

    @classmethod
    def build(
        cls,
        *,
        socket_path: Path | None = None,
        state_dir: Path | None = None,
        cache_dir: Path | None = None,
        hub: HubKind = "hub",
        **kwargs: object,
    ) -> DaemonConfig:
        """Defaults: the user's runtime/state/cache dirs. An explicit ``state_dir`` without a
        ``cache_dir`` keeps the cache inside it, so one directory holds a whole test or demo."""
        state = (state_dir or default_state_dir(hub)).expanduser().absolute()
        if cache_dir is None:
            cache_dir = state / "cache" if state_dir is not None else default_cache_dir(hub)
        return cls(
            socket_path=(socket_path or default_socket_path()).expanduser().absolute(),
            state_dir=state,
            cache_dir=cache_dir.expanduser().absolute(),
            hub=hub,
            **kwargs,  # type: ignore[arg-type]
        )
