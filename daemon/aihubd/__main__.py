"""``aihubd``: serve the daemon, install it as a login service, or run the Hub emulator on its
own. Argument parsing only; the work is in ``app``, ``detach``, ``service_unit`` and ``emulator``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import AihubdError, FailedPrecondition

if TYPE_CHECKING:
    from .config import HubKind

__all__ = ["main"]

# The emulator's transfer modes (EmulatorConfig.transfer), spelled out so parsing imports no emulator code.
_TRANSFER_MODES = ("url", "multipart", "credentials", "mixed")


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


DESCRIPTION = """\
aihubd holds your Qualcomm AI Hub token, submits link jobs, polls every job once for all
clients and serves them (aihubctl, the aihubd_client library) over a private Unix socket."""

EPILOG = """\
examples:
  aihubd serve --detach                    start in the background (pid file, log in the state dir)
  aihubd serve --hub emulator --detach     the same on the embedded Hub emulator (no account)
  aihubd install-service                   start it at login (systemd --user / launchd)
  aihubctl daemon status                   is it running, and how is it doing
  aihubctl daemon stop                     stop it cleanly"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aihubd",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aihubd {__version__}", help="print the version")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much the daemon logs to stderr (or its log file with --detach; default INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the daemon on its Unix socket",
        description="Run the daemon on its Unix socket until SIGTERM, SIGINT or `aihubctl daemon stop`.",
    )
    serve.add_argument(
        "--detach",
        action="store_true",
        help="run in the background: log to <state dir>/aihubd.log, pid in <state dir>/aihubd.pid; "
        "refused while a daemon of that state dir runs",
    )
    serve.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--pid-file", type=Path, default=None, help=argparse.SUPPRESS)
    serve.add_argument(
        "--socket", type=Path, help="socket path (default: $AIHUBD_SOCKET or <user runtime dir>/aihubd/aihubd.sock)"
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        help="the database, pid file and log (default: the user state dir, e.g. ~/.local/state/aihubd; "
        "a separate emulator/ below it with --hub emulator)",
    )
    serve.add_argument(
        "--cache-dir",
        type=Path,
        help="the artifact cache (default: user cache dir, or <state dir>/cache when --state-dir is given)",
    )
    serve.add_argument(
        "--cache-max-gib",
        type=float,
        default=20.0,
        help="evict least recently used artifacts past this size (default 20)",
    )
    serve.add_argument(
        "--no-hardlinks", action="store_true", help="deliver private copies instead of read-only hardlinks to the cache"
    )
    serve.add_argument(
        "--no-prefetch",
        action="store_true",
        help="do not download a finished job's target model and logs in the background",
    )
    serve.add_argument(
        "--max-poll-interval",
        type=_positive,
        default=60.0,
        help="longest gap between looks at a job that sits unchanged (default 60)",
    )
    serve.add_argument(
        "--wait-poll-interval",
        type=_positive,
        default=10.0,
        help="longest gap between looks at a job some client waits on or watches; jitter only "
        "shortens it (default 10, the official client's wait() interval)",
    )
    serve.add_argument(
        "--hub-scope",
        choices=("mine", "tracked"),
        default="mine",
        help="which Hub jobs to follow: every link job of yours, wherever it was submitted (mine, "
        "the default), or only those submitted through the daemon or tracked (tracked)",
    )
    serve.add_argument(
        "--tcp-port",
        type=int,
        default=None,
        help="also serve on 127.0.0.1:PORT (0: any free port) for callers presenting the bearer "
        "token written to tcp-token beside the socket; off by default",
    )
    serve.add_argument(
        "--hub-rate",
        type=_positive,
        default=10.0,
        help="Hub API requests per second, all traffic together (default 10)",
    )
    serve.add_argument(
        "--max-retry-after",
        type=_positive,
        default=300.0,
        help="longest pause of all Hub traffic honoured for a Hub Retry-After, seconds (default 300)",
    )
    serve.add_argument(
        "--hub-retry-attempts",
        type=_positive_int,
        default=7,
        help="attempts per Hub request while the Hub is unavailable (default 7, as the official client)",
    )
    hub = serve.add_mutually_exclusive_group()
    hub.add_argument(
        "--hub",
        choices=["hub", "emulator"],
        default="hub",
        help="'emulator' embeds the Hub emulator (no account needed)",
    )
    hub.add_argument("--hub-url", help="the Hub's API URL (default: api_url from qai-hub's client.ini)")
    serve.add_argument("--web-url", help="the Hub's web URL, for job links (default: from client.ini)")
    serve.add_argument(
        "--token-file", type=Path, help="a 0600 file holding only the Hub token (default: qai-hub's client.ini)"
    )
    serve.add_argument(
        "--poll-interval", type=_positive, help="seconds between poll cycles (default 5; 0.5 with the emulator)"
    )
    serve.add_argument(
        "--feed-history",
        type=_positive_int,
        default=10_000,
        help="revisions of job changes kept for WatchJobs resumes (default 10000; older ones must list again)",
    )
    serve.add_argument(
        "--feed-bookmark-interval",
        type=_positive,
        default=30.0,
        help="seconds without an event before an idle WatchJobs stream gets a bookmark (default 30)",
    )
    serve.add_argument(
        "--feed-stream-buffer",
        type=_positive_int,
        default=1000,
        help="changes one WatchJobs stream may fall behind before it is ended to resume (default 1000)",
    )
    serve.add_argument(
        "--max-streams",
        type=_positive_int,
        default=5000,
        help="open streams (waits, watches, reads) per connection; the Unix socket's clients count "
        "together (default 5000; past it RESOURCE_EXHAUSTED)",
    )
    serve.add_argument(
        "--handshake-timeout",
        type=_positive,
        default=10.0,
        help="seconds a new connection has to speak HTTP/2 before it is closed (default 10)",
    )
    serve.add_argument(
        "--stream-write-timeout",
        type=_positive,
        default=60.0,
        help="seconds a stream (e.g. ReadTargetModel) may wait for its reader before it is ended (default 60)",
    )
    serve.add_argument(
        "--emulator-link-seconds",
        type=float,
        default=3.0,
        help="with --hub emulator: how long an emulated link takes (default 3)",
    )
    serve.add_argument(
        "--emulator-manual", action="store_true", help="with --hub emulator: jobs advance only when told (tests)"
    )
    serve.add_argument(
        "--emulator-transfer",
        choices=_TRANSFER_MODES,
        default="mixed",
        help="with --hub emulator: how the emulator answers transfers (see `aihubd emulator --transfer`)",
    )

    emulator = sub.add_parser(
        "emulator",
        help="run the Hub emulator standalone (prints its URL first)",
        description="Run a standalone HTTP server speaking the Hub's REST protocol closely enough for the "
        "official qai-hub client; its first stdout line is its base URL. Links are emulated.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    emulator.add_argument(
        "--state-dir", type=Path, help="keep users, models, jobs and blobs here across restarts (default: in memory)"
    )
    emulator.add_argument("--link-seconds", type=float, default=3.0, help="how long an emulated link takes (default 3)")
    emulator.add_argument(
        "--manual", action="store_true", help="jobs advance only via POST /_emulator/jobs/ID/advance (tests)"
    )
    emulator.add_argument(
        "--tokens-file",
        type=Path,
        help="accept only these tokens (one per line: 'token', 'token:email' or 'token:email:org')",
    )
    emulator.add_argument(
        "--transfer",
        choices=_TRANSFER_MODES,
        default="mixed",
        help="transfer replies to clients that support S3 credentials: 'url' (one URL), 'multipart' (part URLs), "
        "'credentials' (S3 credentials on a loopback moto S3 endpoint, printed as the 2nd stdout line "
        "'s3: URL'; clients reach it via AWS_ENDPOINT_URL_S3), 'mixed' (default: small files by URL, large ones "
        "alternately by credentials and by multipart/URL)",
    )
    emulator.add_argument("--large-file-bytes", type=int, help="the 'mixed' threshold (default 1 MiB)")
    emulator.add_argument("--part-bytes", type=int, help="multipart upload part size (default 5 MiB)")
    emulator.add_argument(
        "--omit-total-query-count", action="store_true", help="leave total_query_count unset in listings"
    )
    emulator.add_argument(
        "--omit-last-updated-time", action="store_true", help="leave last_updated_time unset in job summaries"
    )

    install = sub.add_parser(
        "install-service",
        help="start the daemon at login (systemd --user unit or launchd agent)",
        description="Write a systemd --user unit (Linux) or a launchd agent plist (macOS) that runs "
        "`aihubd serve [SERVE_ARGS]` at login. No socket activation: the daemon claims its own socket.",
    )
    install.add_argument("--print", dest="print_only", action="store_true", help="show the file; install nothing")
    install.add_argument(
        "--platform",
        choices=["systemd", "launchd"],
        default="launchd" if sys.platform == "darwin" else "systemd",
        help="which kind of file (default: launchd on macOS, else systemd)",
    )
    install.add_argument("--force", action="store_true", help="replace an existing unit file")
    install.add_argument(
        "serve_args",
        nargs=argparse.REMAINDER,
        metavar="-- SERVE_ARGS",
        help="options for `aihubd serve`, after --, e.g. -- --hub emulator",
    )
    return parser


def _serve(args: argparse.Namespace, argv: list[str]) -> int:
    from .app import serve
    from .config import DaemonConfig, default_state_dir
    from .detach import detach, pid_file_kept, signal_ready, write_pid

    hub: HubKind = "emulator" if args.hub == "emulator" else "hub"
    if args.detach:
        state_dir = (args.state_dir or default_state_dir(hub)).expanduser().absolute()
        return detach([a for a in argv if a != "--detach"], state_dir)
    config = DaemonConfig.build(
        socket_path=args.socket,
        state_dir=args.state_dir,
        cache_dir=args.cache_dir,
        hub=hub,
        hub_url=args.hub_url,
        web_url=args.web_url,
        token_file=args.token_file,
        poll_interval=args.poll_interval or (0.5 if hub == "emulator" else 5.0),
        max_poll_interval=args.max_poll_interval,
        wait_poll_interval=args.wait_poll_interval,
        hub_scope=args.hub_scope,
        hub_requests_per_second=args.hub_rate,
        hub_max_retry_after=args.max_retry_after,
        hub_retry_attempts=args.hub_retry_attempts,
        cache_max_bytes=int(args.cache_max_gib * (1 << 30)),
        hardlink_artifacts=not args.no_hardlinks,
        prefetch=not args.no_prefetch,
        tcp_port=args.tcp_port,
        emulator_link_seconds=args.emulator_link_seconds,
        emulator_manual=args.emulator_manual,
        feed_history=args.feed_history,
        feed_bookmark_interval=args.feed_bookmark_interval,
        feed_stream_buffer=args.feed_stream_buffer,
        emulator_transfer=args.emulator_transfer,
        max_streams=args.max_streams,
        handshake_timeout=args.handshake_timeout,
        stream_write_timeout=args.stream_write_timeout,
    )

    def ready(socket: str) -> None:
        print(f"aihubd ready on unix:{socket}", flush=True)
        write_pid(args.pid_file)
        signal_ready(args.ready_fd)

    with pid_file_kept(args.pid_file):
        return asyncio.run(serve(config, ready))


def _install_service(args: argparse.Namespace) -> int:
    from .config import default_state_dir
    from .detach import LOG_NAME
    from .service_unit import install_path, next_steps, service_text

    serve_args = [a for a in args.serve_args if a != "--"]
    hub: HubKind = "emulator" if "emulator" in serve_args else "hub"
    text = service_text(args.platform, serve_args, default_state_dir(hub) / LOG_NAME)
    if args.print_only:
        print(text, end="")
        return 0
    path = install_path(args.platform)
    if path.exists() and not args.force:
        raise FailedPrecondition(f"{path} already exists; --force replaces it, --print shows the new one")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)
    print(f"wrote {path}; {next_steps(args.platform, path)}")
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from .emulator import EmulatorConfig
    from .emulator.server import run_forever

    tokens = None
    if args.tokens_file is not None:
        tokens = [line.strip() for line in args.tokens_file.read_text().splitlines() if line.strip()]
    sizes = {"large_file_bytes": args.large_file_bytes, "part_bytes": args.part_bytes}
    config = EmulatorConfig(
        link_seconds=args.link_seconds,
        manual=args.manual,
        state_dir=args.state_dir,
        tokens=tokens,
        transfer=args.transfer,
        omit_total_query_count=args.omit_total_query_count,
        omit_last_updated_time=args.omit_last_updated_time,
        **{name: value for name, value in sizes.items() if value is not None},
    )
    return run_forever(config, host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s aihubd %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aihubd").setLevel(args.log_level)  # DEBUG for our code only, not every library
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return _serve(args, raw)
        if args.command == "install-service":
            return _install_service(args)
        return _emulator(args)
    except AihubdError as exc:
        print(f"aihubd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
