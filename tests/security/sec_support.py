"""Support for the security and property tests: daemon/emulator subprocesses, a man-in-the-middle
"Hub" proxy that records or rewrites the emulator's replies, and /proc socket inspection.

Reuses ``tests/integration/e2e_support.py`` (imported through a sys.path entry) for the pieces it
already has: a clean environment, the first-line handshake and stopping a child; children are
started with ``child_procs.popen`` (they die with the test process).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))

from child_procs import popen  # noqa: E402
from e2e_support import START_TIMEOUT, Emulator, clean_env, first_line, stop_process  # noqa: E402

__all__ = [
    "DEVICE",
    "START_TIMEOUT",
    "DaemonProc",
    "Emulator",
    "HubProxy",
    "Listener",
    "clean_env",
    "is_loopback",
    "listening_sockets",
    "private_dir",
    "run_refused",
    "spawn_daemon",
    "start_emulator",
    "stop_process",
]

DEVICE = "Snapdragon 8 Elite QRD"
# S3 V4 (X-Amz-Signature=hex) and V2 (Signature=url-encoded base64, what the emulator signs) URLs.
SIGNATURE = re.compile(rb"Signature=([0-9A-Za-z%+/]{16,})")


@contextlib.contextmanager
def private_dir(prefix: str = "aihubd-sec-", mode: int = 0o700) -> Iterator[Path]:
    """A short directory under /tmp (socket paths must stay under 108 bytes), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, mode)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -------------------------------------------------------------------------------- processes


def daemon_command(
    socket: Path, state_dir: Path, hub_args: list[str], extra: list[str] | None = None, log_level: str = "INFO"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aihubd",
        "--log-level",
        log_level,
        "serve",
        "--socket",
        str(socket),
        "--state-dir",
        str(state_dir),
        *hub_args,
        *(extra if extra is not None else ["--poll-interval", "3600"]),
    ]


@dataclass
class DaemonProc:
    socket: Path
    state_dir: Path
    proc: subprocess.Popen[str]
    log: Path
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        return stop_process(self.proc)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def spawn_daemon(
    socket: Path,
    state_dir: Path,
    log: Path,
    hub_args: list[str],
    *,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    umask: int = -1,
    cwd: Path | None = None,
    log_level: str = "INFO",
) -> DaemonProc:
    """Start ``aihubd serve`` and return once it printed its ready line (it fails loudly otherwise)."""
    argv = daemon_command(socket, state_dir, hub_args, extra, log_level)
    with log.open("a") as err:
        proc = popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env or clean_env(),
            umask=umask,
            cwd=cwd,
            start_new_session=True,
        )
    line = first_line(proc, "the daemon", log)
    if line != f"aihubd ready on unix:{socket}":
        proc.kill()
        proc.wait()
        raise AssertionError(f"unexpected first line {line!r}:\n{log.read_text()}")
    return DaemonProc(socket, state_dir, proc, log, argv)


def run_refused(
    socket: Path,
    state_dir: Path,
    hub_args: list[str],
    *,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """Run ``aihubd serve`` expecting it to refuse; returns its exit status and output.

    If it starts serving instead, it is stopped at once (exit status 0, stdout holding the ready
    line), so a refusal that does not happen fails the test quickly instead of timing out.
    """
    argv = daemon_command(socket, state_dir, hub_args, extra)
    with tempfile.TemporaryFile("w+") as err:
        proc = popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env or clean_env(),
            umask=umask,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the ready line, or "" once the refused daemon exited
            if line.startswith("aihubd ready"):
                stop_process(proc)
                returncode = 0
            else:
                returncode = proc.wait(timeout=START_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        err.seek(0)
        return subprocess.CompletedProcess(argv, returncode, line, err.read())


def start_emulator(
    workdir: Path,
    *,
    manual: bool = True,
    tokens: list[str] | None = None,
    link_seconds: float | None = None,
    transfer: str | None = None,
) -> Emulator:
    """A standalone ``aihubd emulator`` on a free loopback port (stop it with ``stop_process``).
    ``transfer``: its ``--transfer`` mode (with S3, its endpoint is the second stdout line)."""
    log = workdir / "emulator.log"
    argv = [sys.executable, "-m", "aihubd", "emulator", "--port", "0", "--state-dir", str(workdir / "emu")]
    if manual:
        argv.append("--manual")
    if transfer is not None:
        argv += ["--transfer", transfer]
    if link_seconds is not None:
        argv += ["--link-seconds", str(link_seconds)]
    if tokens is not None:
        tokens_file = workdir / "emulator-tokens"
        tokens_file.write_text("".join(f"{t}\n" for t in tokens))
        argv += ["--tokens-file", str(tokens_file)]
    with log.open("w") as err:
        proc = popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env(), start_new_session=True)
    return Emulator(first_line(proc, "the emulator", log), proc)


# -------------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class Listener:
    family: str  # "unix", "unix-abstract", "tcp", "tcp6"
    address: str


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_sockets(pid: int) -> list[Listener]:
    """Every listening socket the process holds, from /proc (Unix, abstract Unix, TCP v4/v6)."""
    inodes = _socket_inodes(pid)
    found: list[Listener] = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        # Num RefCount Protocol Flags Type St Inode [Path]; flag 0x10000 = __SO_ACCEPTCON (listening)
        if len(parts) >= 7 and parts[6] in inodes and int(parts[3], 16) & 0x10000:
            path = parts[7] if len(parts) > 7 else ""
            found.append(Listener("unix-abstract" if path.startswith("@") else "unix", path))
    for family in ("tcp", "tcp6"):
        table = Path(f"/proc/net/{family}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 10 and parts[9] in inodes and parts[3] == "0A":
                found.append(Listener(family, _tcp_address(parts[1], family)))
    return found


def _tcp_address(raw: str, family: str) -> str:
    """``host:port`` from /proc/net/tcp{,6} (IPv4-mapped IPv6 addresses shown as IPv4)."""
    host_hex, port_hex = raw.split(":")
    port = int(port_hex, 16)
    packed = bytes.fromhex(host_hex)
    # the kernel prints each 32-bit word in host (little-endian) order
    packed = b"".join(packed[i : i + 4][::-1] for i in range(0, len(packed), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"


def is_loopback(listener: Listener) -> bool:
    host = listener.address.rsplit(":", 1)[0].strip("[]")
    return ipaddress.ip_address(host).is_loopback


# -------------------------------------------------------------------------------- the proxy

Rewrite = Callable[[str, str, bytes], bytes]


class HubProxy:
    """An HTTP reverse proxy to the emulator, standing in for the Hub the daemon talks to.

    Records every reply body (so the signed-URL parameters the daemon saw can be searched for
    afterwards) and lets a test rewrite replies: a hostile or canary-carrying Hub.
    """

    def __init__(self, upstream: str, rewrite: Rewrite | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.bodies: list[bytes] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hub-proxy", daemon=True)
        self._runner = None
        self._session = None
        self.base_url = ""

    def __enter__(self) -> HubProxy:
        self._thread.start()
        self.base_url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def signatures(self) -> set[str]:
        """Every ``X-Amz-Signature`` value the emulator handed out through this proxy."""
        with self._lock:
            return {m.group(1).decode() for body in self.bodies for m in SIGNATURE.finditer(body)}

    async def _start(self) -> str:
        import aiohttp
        from aiohttp import web

        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request):  # type: ignore[no-untyped-def]
        from aiohttp import web

        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding", "accept-encoding")
        }
        url = self.upstream + str(request.rel_url)
        assert self._session is not None
        async with self._session.request(
            request.method, url, data=body, headers=headers, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            keep = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() in ("content-type", "etag", "retry-after", "content-range", "accept-ranges")
            }
        with self._lock:
            self.bodies.append(payload)
            self.requests.append(f"{request.method} {request.rel_url}")
        if self.rewrite is not None and 200 <= status < 300:
            payload = self.rewrite(request.method, request.path, payload)
            with self._lock:
                self.bodies.append(payload)
        return web.Response(status=status, body=payload, headers=keep)
