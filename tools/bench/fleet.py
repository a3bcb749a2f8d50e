"""A fleet of client processes that wait on jobs: through the daemon or with the official client.

Workers are forked from a ``multiprocessing`` forkserver that has already imported ``qai_hub``,
``aihubd_client`` and ``grpc`` (no channel exists before the fork), so 50 clients start in well
under a second instead of paying ~0.6 s of imports each. Each worker watches the bench process
(a pidfd) and exits the moment it is gone, even while its threads are blocked in waits; the
forkserver exits once the bench and every worker are gone.

One command per worker at a time, over its pipe:

* ``("warm", socket)``: connect to the daemon once, so no measurement pays a process's first
  gRPC connection and lazy imports.
* ``("daemon", socket, job_ids, timeout)``: one ``aihubd_client.Client`` for the process, one
  thread per job running ``client.get_job(id)`` then the job's ``iter_status()`` to the end (the
  loop ``LinkJob.wait()`` runs; iterating lets the worker report when each stream is open).
* ``("official", api_url, token, interval, job_ids, timeout)``: one ``qai_hub.Client``, one thread
  per job running ``client.get_job(id)`` then ``job.wait()``, with
  ``qai_hub.client.Job._polling_interval = interval``.

Every command carries a sequence number that the worker's answers repeat, so a late answer to an
abandoned command is recognised and dropped. The worker answers ``("ready", seq, opened, errors)``
once every thread is waiting, then ``("done", seq, finished, errors)`` when every thread has
returned (the jobs reached a terminal state).

In the workers, gRPC's blocking waits wake every 10 s instead of every 0.1 s (``grpc._common.
MAXIMUM_WAIT_TIMEOUT``, which only bounds how late a signal handler runs): with 10,000 client
threads blocked on streams, 100,000 wake-ups a second would otherwise swamp two cores. Messages
still wake a waiting thread at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import qai_hub
import qai_hub.client
from grpc import _common as grpc_common  # also preloads grpc in the forkserver

from aihubd_client import Client

__all__ = ["Fleet", "FleetResult"]

_PRELOAD = ["tools.bench.fleet"]


def _die_with(bench_pid: int) -> None:
    """Exit this worker as soon as the bench process is gone (its parent is the forkserver, so
    PR_SET_PDEATHSIG alone would not do)."""
    with contextlib.suppress(Exception):  # best effort: the watcher thread below still ends the worker
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG: the forkserver

    def watch() -> None:
        try:
            fd = os.pidfd_open(bench_pid)
            select.select([fd], [], [])
        except (AttributeError, OSError):
            while True:
                try:
                    os.kill(bench_pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(0.5)
        os._exit(0)

    if not _alive(bench_pid):
        os._exit(0)
    threading.Thread(target=watch, name="watch-bench", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Tally:
    def __init__(self, total: int) -> None:
        self.total = total
        self.opened = 0
        self.finished = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.all_opened = threading.Event()
        if total == 0:
            self.all_opened.set()

    def _check(self) -> None:
        if self.opened + len(self.errors) >= self.total:
            self.all_opened.set()

    def open(self) -> None:
        with self._lock:
            self.opened += 1
            self._check()

    def finish(self) -> None:
        with self._lock:
            self.finished += 1

    def error(self, exc: BaseException, opened: bool) -> None:
        with self._lock:
            if opened:
                self.opened -= 1
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            self._check()


def _run_threads(
    conn: multiprocessing.connection.Connection, seq: int, job_ids: Sequence[str], timeout: float, body: Any
) -> None:
    tally = _Tally(len(job_ids))
    threads = [threading.Thread(target=body, args=(job_id, tally), daemon=True) for job_id in job_ids]
    for thread in threads:
        thread.start()
    tally.all_opened.wait(timeout)
    conn.send(("ready", seq, tally.opened, list(tally.errors)))
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    conn.send(("done", seq, tally.finished, list(tally.errors)))


def _daemon_waits(
    conn: multiprocessing.connection.Connection, seq: int, socket: str, job_ids: Sequence[str], timeout: float
) -> None:
    client = Client(socket)

    def body(job_id: str, tally: _Tally) -> None:
        opened = False
        try:
            job = client.get_job(job_id)
            statuses = job.iter_status(timeout=timeout)
            next(statuses)  # the stream is open: the current state arrived
            opened = True
            tally.open()
            for _ in statuses:
                pass
            tally.finish()
        except BaseException as exc:  # reported to the bench
            tally.error(exc, opened)

    try:
        _run_threads(conn, seq, job_ids, timeout, body)
    finally:
        client.close()


def _official_waits(
    conn: multiprocessing.connection.Connection,
    seq: int,
    api_url: str,
    token: str,
    interval: float,
    job_ids: Sequence[str],
    timeout: float,
) -> None:
    qai_hub.client.Job._polling_interval = interval  # type: ignore[assignment]
    config = qai_hub.ClientConfig(api_token=token, api_url=api_url, web_url=api_url + "/", verbose=False)
    client = qai_hub.Client(config=config)

    def body(job_id: str, tally: _Tally) -> None:
        opened = False
        try:
            job = client.get_job(job_id)
            opened = True
            tally.open()
            job.wait(timeout=int(timeout))
            tally.finish()
        except BaseException as exc:  # reported to the bench
            tally.error(exc, opened)

    _run_threads(conn, seq, job_ids, timeout, body)


def _warm(conn: multiprocessing.connection.Connection, seq: int, socket: str, attempts: int = 5) -> None:
    """Connect to the daemon once (first gRPC use in this process, lazy imports), untimed."""
    errors: list[str] = []
    for attempt in range(attempts):
        client = Client(socket)
        try:
            client.daemon_info()
            errors = []
            break
        except Exception as exc:  # reported if every attempt fails
            errors = [f"{type(exc).__name__}: {exc}"[:300]]
            time.sleep(0.5 * (attempt + 1))
        finally:
            client.close()
    conn.send(("ready", seq, 0 if errors else 1, errors))
    conn.send(("done", seq, 0 if errors else 1, []))


def _worker(conn: multiprocessing.connection.Connection, bench_pid: int) -> None:
    _die_with(bench_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench decides when we stop
    grpc_common.MAXIMUM_WAIT_TIMEOUT = 10.0  # see the module docstring
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        seq = message[1] if len(message) > 1 else 0
        try:
            if kind == "exit":
                return
            if kind == "warm":
                _warm(conn, *message[1:])
            elif kind == "daemon":
                _daemon_waits(conn, *message[1:])
            elif kind == "official":
                _official_waits(conn, *message[1:])
            else:
                conn.send(("error", seq, f"unknown command {kind!r}"))
        except (BrokenPipeError, EOFError, OSError):
            return
        except BaseException as exc:  # keep the worker alive for the next command
            try:
                conn.send(("error", seq, f"{type(exc).__name__}: {exc}"))
            except OSError:
                return


@dataclass
class FleetResult:
    """What the workers of one command reported."""

    opened: int = 0
    finished: int = 0
    errors: list[str] = field(default_factory=list)


class Fleet:
    """``size`` client processes, started once and reused for every command."""

    def __init__(self, size: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        self._conns: list[multiprocessing.connection.Connection] = []
        self._procs: list[Any] = []
        for _ in range(size):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, os.getpid()), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._busy: list[int] = []
        self._seq = 0

    @property
    def size(self) -> int:
        return len(self._procs)

    def start(self, processes: int, command: tuple[Any, ...]) -> None:
        """Send ``command`` to the first ``processes`` workers."""
        if processes > self.size:
            raise ValueError(f"the fleet has {self.size} workers, not {processes}")
        self._busy = list(range(processes))
        self._seq += 1
        for i in self._busy:
            self._conns[i].send((command[0], self._seq, *command[1:]))

    def _collect(self, expect: str, timeout: float) -> FleetResult:
        result = FleetResult()
        deadline = time.monotonic() + timeout
        for i in self._busy:
            conn = self._conns[i]
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not conn.poll(left):
                    result.errors.append(f"worker {i}: no {expect!r} within {timeout:.0f}s")
                    break
                try:
                    kind, seq, *rest = conn.recv()
                except (EOFError, OSError) as exc:
                    result.errors.append(f"worker {i}: gone ({type(exc).__name__})")
                    break
                if seq != self._seq:
                    continue  # a late answer to an abandoned command
                if kind == "error":
                    result.errors.append(f"worker {i}: {rest[0]}")
                elif kind != expect:  # pragma: no cover - protocol bug
                    result.errors.append(f"worker {i}: expected {expect!r}, got {kind!r}")
                else:
                    count, errors = rest
                    if expect == "ready":
                        result.opened += count
                    else:
                        result.finished += count
                    result.errors.extend(f"worker {i}: {e}" for e in errors)
                break
        return result

    def wait_ready(self, timeout: float) -> FleetResult:
        return self._collect("ready", timeout)

    def wait_done(self, timeout: float) -> FleetResult:
        return self._collect("done", timeout)

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send(("exit",))
        deadline = time.monotonic() + 5
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(2)
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # pragma: no cover
    print("tools.bench.fleet is used by `python -m tools.bench`", flush=True)
    os._exit(2)
