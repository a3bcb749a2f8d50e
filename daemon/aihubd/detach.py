"""``aihubd serve --detach``: the daemon in the background, with a pid file and a log file.

The parent starts ``aihubd serve`` again (without ``--detach``) in a new session, its output
appended to ``<state dir>/aihubd.log``, and waits on a pipe until the child says it is serving
(then prints where things are and exits 0) or the child exits (then shows the end of its log
and exits with its code). The child writes ``<state dir>/aihubd.pid`` once it serves and
removes it when it stops. A pid file naming a live process means one already runs: refused.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import FailedPrecondition

__all__ = ["LOG_NAME", "PID_NAME", "detach", "pid_file_kept", "running_pid", "signal_ready", "write_pid"]

PID_NAME = "aihubd.pid"
LOG_NAME = "aihubd.log"
LOG_TAIL_LINES = 20
READY = b"ready\n"


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` when that process still exists, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def detach(serve_args: Sequence[str], state_dir: Path) -> int:
    """Start ``aihubd <serve_args>`` in the background; returns the exit code for the parent."""
    pid_file, log = state_dir / PID_NAME, state_dir / LOG_NAME
    running = running_pid(pid_file)
    if running is not None:
        raise FailedPrecondition(
            f"aihubd already runs (pid {running}, pid file {pid_file}); stop it with `aihubctl daemon stop`"
        )
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    read_end, write_end = os.pipe()
    try:
        with log.open("ab") as log_file:
            os.chmod(log, 0o600)
            command = [
                sys.executable,
                "-m",
                "aihubd",
                *serve_args,
                "--ready-fd",
                str(write_end),
                "--pid-file",
                str(pid_file),
            ]
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                start_new_session=True,
            )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        answer = ready.read(len(READY))
    if answer == READY:
        print(f"aihubd started in the background (pid {child.pid}); log {log}; pid file {pid_file}")
        return 0
    code = child.wait()
    tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    print(f"aihubd: error: the daemon did not start (exit {code}); the end of {log}:", file=sys.stderr)
    for line in tail:
        print(f"  {line}", file=sys.stderr)
    return code or 1


def signal_ready(fd: int | None) -> None:
    """Tell a waiting ``--detach`` parent that the daemon serves (then close the pipe)."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, READY)
    with contextlib.suppress(OSError):
        os.close(fd)


@contextlib.contextmanager
def pid_file_kept(pid_file: Path | None) -> Iterator[None]:
    """Remove ``pid_file`` (written by ``write_pid``) when the daemon stops."""
    try:
        yield
    finally:
        if pid_file is not None:
            with contextlib.suppress(FileNotFoundError):
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()


def write_pid(pid_file: Path | None) -> None:
    """This process's pid into ``pid_file``, atomically (a reader never sees half of it)."""
    if pid_file is None:
        return
    temp = pid_file.with_name(f".{pid_file.name}.{os.getpid()}")
    temp.write_text(f"{os.getpid()}\n")
    os.replace(temp, pid_file)
