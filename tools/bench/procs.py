"""Subprocesses of the bench: the Hub emulator, the daemon, the bench's own helpers.

Every child is started through a tiny bootstrap that asks the kernel to SIGKILL it when the
bench dies (``PR_SET_PDEATHSIG``) and then runs the real module in the same process, so the pid
we measure is the pid of the daemon itself. Children are also registered here and stopped
(SIGTERM, then SIGKILL) on normal exit, on exceptions and on SIGTERM/SIGINT of the bench.

Only public entry points are used: ``aihubd serve`` / ``aihubd emulator`` with their CLI flags,
the emulator's ``/_emulator/`` admin endpoints, and the daemon's gRPC API.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "REPO",
    "BenchError",
    "Daemon",
    "Emulator",
    "Proc",
    "install_signal_handlers",
    "proc_cpu_seconds",
    "proc_peak_rss_bytes",
    "proc_rss_bytes",
    "socket_path",
    "start_daemon",
    "start_emulator",
    "start_emulators",
    "start_module",
    "stop_all",
]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_PARENT_ENV = "AIHUBD_BENCH_PARENT_PID"

# Runs in the child: die with the parent, then become the wanted module (same pid).
_BOOT = (
    "import os, sys, signal, runpy\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG\n"
    "except Exception:\n"
    "    pass\n"
    f"_parent = os.environ.pop({_PARENT_ENV!r}, '')\n"
    "if _parent and os.getppid() != int(_parent):\n"
    "    sys.exit(70)  # the bench died before we got here\n"
    "_mod = sys.argv[1]\n"
    "sys.argv = [_mod] + sys.argv[2:]\n"
    "runpy.run_module(_mod, run_name='__main__', alter_sys=True)\n"
)


class BenchError(RuntimeError):
    """A scenario could not be set up or run (not a FAIL of a target)."""


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: no AIHUBD_/QAIHUB_ settings of the user, loopback unproxied,
    the repository importable (for the bench's own helper modules)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIHUBD_", "QAIHUB_"))}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # qai-hub's own config of the user must not leak into the daemon (default_project etc.).
    env["QAIHUB_CLIENT_INI"] = os.devnull
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Proc:
    """One child process; its stderr (and stdout after the first line) go to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started_at: float
    first_line: str = ""
    first_line_at: float = 0.0
    _drain: threading.Thread | None = field(default=None, repr=False)
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    interactive: bool = False

    def wait_first_line(self, timeout: float = DEFAULT_START_TIMEOUT) -> str:
        """Block until the child prints its first stdout line (its "ready" line); keep it in
        ``first_line``. Then a non-interactive child's stdout is drained to its log."""
        line = _read_line(self.popen, self._buf, timeout)
        self.first_line_at = time.monotonic()
        self.first_line = line or ""
        if not line:
            self.kill()
            raise BenchError(f"{self.name} did not start within {timeout:.0f}s:\n{self.log_tail()}")
        if not self.interactive:
            self._drain = threading.Thread(
                target=_drain, args=(self.popen, self.log, bytes(self._buf)), name=f"drain-{self.name}", daemon=True
            )
            self._drain.start()
        return self.first_line

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def send(self, obj: dict) -> None:
        """One JSON line to an interactive child's stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(obj) + "\n").encode())
        self.popen.stdin.flush()

    def receive(self, timeout: float) -> dict:
        """The next JSON line of an interactive child; BenchError when none comes in time."""
        line = _read_line(self.popen, self._buf, timeout)
        if line is None:
            raise BenchError(
                f"{self.name}: no answer within {timeout:.0f}s (exit code {self.popen.poll()}):\n{self.log_tail()}"
            )
        return json.loads(line)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        _unregister(self)
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # pragma: no cover - the kernel is stuck
                self.popen.wait(timeout=STOP_TIMEOUT)
        _unregister(self)


_LIVE: list[Proc] = []
_LIVE_LOCK = threading.Lock()


def _register(proc: Proc) -> None:
    with _LIVE_LOCK:
        _LIVE.append(proc)


def _unregister(proc: Proc) -> None:
    with _LIVE_LOCK:
        if proc in _LIVE:
            _LIVE.remove(proc)


def stop_all() -> None:
    """Stop every child still running, newest first."""
    with _LIVE_LOCK:
        procs = list(reversed(_LIVE))
    for proc in procs:
        proc.stop(timeout=5.0)


atexit.register(stop_all)


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP of the bench become KeyboardInterrupt, so ``finally`` blocks stop children."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _read_line(popen: subprocess.Popen[bytes], buf: bytearray, timeout: float) -> str | None:
    """The child's next stdout line (``buf`` keeps what was read beyond it), or None when the
    child exits or ``timeout`` passes first."""
    assert popen.stdout is not None
    fd = popen.stdout.fileno()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not sel.select(min(left, 0.5)):
                if popen.poll() is not None:
                    return None
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode(errors="replace").strip()


def _drain(popen: subprocess.Popen[bytes], log: Path, pending: bytes) -> None:
    """Copy the rest of the child's stdout to its log, so a chatty child never blocks."""
    assert popen.stdout is not None
    fd = popen.stdout.fileno()
    try:
        with log.open("ab") as out:
            out.write(pending)
            while chunk := os.read(fd, 65536):
                out.write(chunk)
    except (OSError, ValueError):
        pass


def start_module(
    name: str,
    module: str,
    args: list[str],
    *,
    logdir: Path,
    env: dict[str, str] | None = None,
    wait_line: bool = True,
    interactive: bool = False,
    timeout: float = DEFAULT_START_TIMEOUT,
    cwd: Path | None = None,
) -> Proc:
    """Run ``python -m module args`` as a guarded child. With ``wait_line``, block until it prints
    its first stdout line (its "ready" line) and keep that line in ``first_line``. ``interactive``
    children get a stdin pipe and keep their stdout for ``send``/``receive``."""
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{name}.log"
    full_env = dict(env or child_env())
    full_env[_PARENT_ENV] = str(os.getpid())
    with log.open("ab") as err:
        started = time.monotonic()
        popen = subprocess.Popen(
            [sys.executable, "-c", _BOOT, module, *args],
            stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=full_env,
            cwd=str(cwd or REPO),
            close_fds=True,
        )
    proc = Proc(name=name, popen=popen, log=log, started_at=started, interactive=interactive)
    _register(proc)
    if wait_line:
        proc.wait_first_line(timeout)
    return proc


def start_argv(name: str, argv: list[str], *, logdir: Path, cwd: Path | None = None) -> Proc:
    """Run ``argv`` (e.g. a ``node`` script) as an interactive child: stdin piped, stdout kept for
    ``wait_first_line``/``receive``, stderr to ``logdir/<name>.log``; stopped by ``stop_all``."""
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{name}.log"
    with log.open("ab") as err:
        popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=child_env(), cwd=str(cwd or REPO)
        )
    proc = Proc(name=name, popen=popen, log=log, started_at=time.monotonic(), interactive=True)
    _register(proc)
    return proc


# --------------------------------------------------------------------------- the Hub emulator


@dataclass
class Emulator:
    """A standalone ``aihubd emulator`` process and its admin endpoints (never counted)."""

    base_url: str
    proc: Proc
    token: str = "aihubd-bench-token"

    def _admin(self, method: str, path: str, timeout: float = 30.0) -> dict:
        req = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}", method=method, data=b"" if method == "POST" else None
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else {}

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._admin("GET", "counters").items()}

    def reset_counters(self) -> None:
        self._admin("POST", "counters/reset")

    def advance(self, job_id: str) -> int:
        return int(self._admin("POST", f"jobs/{job_id}/advance")["state"])

    def health(self) -> dict:
        return self._admin("GET", "health")

    def stop(self) -> None:
        self.proc.stop()


def start_emulators(
    workdir: Path, names: list[str], *, manual: bool = True, link_seconds: float = 3.0
) -> list[Emulator]:
    """``aihubd emulator`` processes on free loopback ports, started in parallel. Their blobs live
    in temp dirs inside ``workdir`` (no ``--state-dir``: that would persist the whole state to JSON
    every 0.2 s)."""
    started: list[Proc] = []
    for name in names:
        tmp = workdir / f"{name}-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        args = ["emulator", "--host", "127.0.0.1", "--port", "0", "--link-seconds", str(link_seconds)]
        # Signed URLs for every transfer: these scenarios measure delivery and notification, not S3
        # (the emulator's default "mixed" would hand big files out as S3 credentials).
        args += ["--transfer", "url"]
        if manual:
            args.append("--manual")
        started.append(
            start_module(
                name,
                "aihubd",
                ["--log-level", "WARNING", *args],
                logdir=workdir / "logs",
                env=child_env(TMPDIR=str(tmp)),
                wait_line=False,
            )
        )
    emulators = []
    for proc in started:
        url = proc.wait_first_line()
        if not url.startswith("http://127.0.0.1:"):
            proc.kill()
            raise BenchError(f"{proc.name} printed {url!r} instead of its URL:\n{proc.log_tail()}")
        emulators.append(Emulator(base_url=url, proc=proc))
    return emulators


def start_emulator(
    workdir: Path, *, manual: bool = True, link_seconds: float = 3.0, name: str = "emulator"
) -> Emulator:
    """One emulator (see ``start_emulators``)."""
    return start_emulators(workdir, [name], manual=manual, link_seconds=link_seconds)[0]


# --------------------------------------------------------------------------------- the daemon


def socket_path(workdir: Path, name: str) -> Path:
    """A Unix socket path in ``workdir/run`` (private), short enough for the 108-byte limit."""
    run = workdir / "run"
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run / f"{name}.sock"
    if len(str(path)) > 100:
        raise BenchError(f"socket path too long for a Unix socket: {path} (use a shorter --workdir)")
    return path


@dataclass
class Daemon:
    """An ``aihubd serve`` process against a Hub URL (the emulator), on its own socket."""

    socket: Path
    state_dir: Path
    proc: Proc
    startup_seconds: float
    poll_interval: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"unix:{self.socket}"

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    def peak_rss_bytes(self) -> int:
        return proc_peak_rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def stop(self) -> int | None:
        return self.proc.stop()


def write_token_file(path: Path, token: str) -> Path:
    """A 0600 file holding only the token (what ``aihubd serve --token-file`` wants)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return path


def start_daemon(
    workdir: Path,
    emulator: Emulator,
    *,
    name: str = "daemon",
    poll_interval: float = 3600.0,
    state_dir: Path | None = None,
    extra: list[str] | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    log_level: str = "WARNING",
    token: str | None = None,
) -> Daemon:
    """``aihubd serve --hub-url <emulator>`` with a token file, a private socket and state dir.

    XDG dirs point into ``workdir`` so whatever the daemon caches stays on the bench's disk and is
    removed with it. ``startup_seconds`` is from spawn to the "aihubd ready on unix:..." line.
    ``token`` (default: the emulator's) picks the Hub user; the emulator signs up any new token.
    """
    socket = socket_path(workdir, name)
    run = socket.parent
    state = state_dir or (workdir / f"{name}-state")
    xdg = workdir / f"{name}-xdg"
    env = child_env(
        XDG_CACHE_HOME=str(xdg / "cache"),
        XDG_STATE_HOME=str(xdg / "state"),
        XDG_DATA_HOME=str(xdg / "data"),
        XDG_CONFIG_HOME=str(xdg / "config"),
        XDG_RUNTIME_DIR=str(run),
    )
    token_file = write_token_file(workdir / f"{name}.token", token or emulator.token)
    args = [
        "--log-level",
        log_level,
        "serve",
        "--socket",
        str(socket),
        "--state-dir",
        str(state),
        "--hub-url",
        emulator.base_url,
        "--web-url",
        emulator.base_url,
        "--token-file",
        str(token_file),
        "--poll-interval",
        repr(float(poll_interval)),
        *(extra or []),
    ]
    proc = start_module(name, "aihubd", args, logdir=workdir / "logs", env=env, timeout=timeout)
    expected = f"aihubd ready on unix:{socket}"
    if proc.first_line != expected:
        proc.kill()
        raise BenchError(f"{name} printed {proc.first_line!r}, expected {expected!r}:\n{proc.log_tail()}")
    return Daemon(
        socket=socket,
        state_dir=state,
        proc=proc,
        startup_seconds=proc.first_line_at - proc.started_at,
        poll_interval=poll_interval,
    )


# ------------------------------------------------------------------------------ /proc readers


def _status_field(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # kB
    return 0


def proc_rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS)."""
    return _status_field(pid, "VmRSS")


def proc_peak_rss_bytes(pid: int) -> int:
    """Peak resident set size so far (VmHWM)."""
    return _status_field(pid, "VmHWM")


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
