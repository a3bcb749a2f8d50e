"""Fault-suite support: a daemon subprocess whose stderr lines the test can wait for."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from child_procs import popen
from e2e_support import clean_env

WAIT = 60.0  # upper bound for any single wait (a hang fails the test instead of blocking it)


@dataclass
class ServedDaemon:
    proc: subprocess.Popen[str]
    socket: Path
    state_dir: Path
    stderr_lines: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_log(self, text: str) -> str:
        """Block until the daemon logs a line containing ``text`` (fails if it exits first)."""
        while True:
            line = self._lines.get(timeout=WAIT)
            if line is None:
                raise AssertionError(f"the daemon ended before logging {text!r}:\n" + "\n".join(self.stderr_lines))
            if text in line:
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def serve_argv(socket: Path, state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aihubd",
        "serve",
        "--socket",
        str(socket),
        "--state-dir",
        str(state_dir),
        "--poll-interval",
        "3600",
        *extra,
    ]


def start_served(
    socket: Path,
    state_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    hub: tuple[str, ...] = ("--hub", "emulator"),
) -> ServedDaemon:
    """``aihubd serve`` (the embedded emulator unless ``hub`` says otherwise), once it is ready."""
    proc = popen(
        [*serve_argv(socket, state_dir, *extra), *hub],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or clean_env(),
    )
    daemon = ServedDaemon(proc, socket, state_dir)
    threading.Thread(target=daemon._pump, daemon=True).start()
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != f"aihubd ready on unix:{socket}":
        daemon.stop()
        raise AssertionError(f"the daemon did not start ({line!r}):\n" + "\n".join(daemon.stderr_lines))
    return daemon


def run_serve(socket: Path, state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``aihubd serve --hub emulator`` expected to fail at start-up: its outcome, bounded in time."""
    from child_procs import run

    return run(
        [*serve_argv(socket, state_dir, *extra), "--hub", "emulator"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=WAIT,
    )
