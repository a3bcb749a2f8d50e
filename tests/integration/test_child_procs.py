"""Children started through ``child_procs`` die with the process that started them.

A small parent process (``python -c``) starts children, prints their pids and waits; the test
SIGKILLs the parent (as when pytest itself is killed: no ``finally``, no atexit) and then polls
``/proc`` with a deadline until the children are gone. A control child started with a plain
``subprocess.Popen`` by the same parent outlives it, showing that the check can fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from child_procs import popen

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

HERE = Path(__file__).resolve().parent
DEADLINE = 20.0
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
Children = dict[int, int]  # pid -> start time (clock ticks after boot), so a reused pid is not mistaken
Start = Callable[[str], tuple[subprocess.Popen[str], Children]]

# The parent: puts this directory on sys.path, runs BODY (which sets `pids`), prints them, waits.
PARENT = """\
import signal, subprocess, sys
from pathlib import Path
sys.path.insert(0, {here!r})
{body}
print(*pids, flush=True)
signal.pause()  # until the test kills us
"""

GUARDED_SLEEPER = f"""\
from child_procs import popen
pids = [popen({SLEEPER!r}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid]
"""

PLAIN_SLEEPER = f"""\
pids = [subprocess.Popen({SLEEPER!r}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL).pid]
"""

EMULATOR_AND_DAEMON = """\
from e2e_support import start_emulator, start_hub_daemon
emulator = start_emulator(Path({base!r}), "--manual")
daemon = start_hub_daemon(Path({base!r}), emulator)
pids = [emulator.proc.pid, daemon.proc.pid]
"""


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of ``pid`` from /proc, or None when there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[19])


def _running(pid: int, started: int) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs (a zombie is dead, a
    reused pid is another process)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X", "x") and stat[2] == started


def _gone_within(pids: Children, seconds: float) -> list[int]:
    """Poll until none of ``pids`` runs; returns the ones still running at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        left = [pid for pid, started in pids.items() if _running(pid, started)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)  # a poll interval, not synchronisation: the deadline bounds the loop


@pytest.fixture
def parent_of() -> Iterator[Start]:
    """``start(body)`` runs a parent with that BODY and returns it with its children, each checked
    to be a running child of the parent. Whatever still runs at the end is killed by pid."""
    started: list[tuple[subprocess.Popen[str], Children]] = []

    def start(body: str) -> tuple[subprocess.Popen[str], Children]:
        proc = popen(
            [sys.executable, "-c", PARENT.format(here=str(HERE), body=body)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the children are up (or the parent failed)
        if not line.strip():
            proc.kill()
            _, err = proc.communicate(timeout=DEADLINE)
            raise AssertionError(f"the parent did not start its children:\n{err}")
        children: Children = {}
        for pid in map(int, line.split()):
            stat = _stat(pid)
            assert stat is not None and stat[1] == proc.pid, f"{pid} is not a running child of the parent"
            children[pid] = stat[2]
        started.append((proc, children))
        return proc, children

    yield start
    for proc, children in started:
        for pid, birth in children.items():  # first: a live child may hold the parent's pipes
            if _running(pid, birth):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=DEADLINE)


def _kill(parent: subprocess.Popen[str]) -> None:
    """SIGKILL the parent and reap it: by then the kernel has sent every parent-death signal."""
    parent.kill()
    assert parent.wait(timeout=DEADLINE) == -signal.SIGKILL


def test_a_guarded_child_dies_when_its_parent_is_killed(parent_of: Start) -> None:
    parent, children = parent_of(GUARDED_SLEEPER)
    _kill(parent)
    assert _gone_within(children, DEADLINE) == []


def test_a_plain_child_outlives_its_killed_parent(parent_of: Start) -> None:
    """The control: without the launcher the same child survives (so the check above can fail)."""
    parent, children = parent_of(PLAIN_SLEEPER)
    _kill(parent)
    ((pid, started),) = children.items()
    # No signal is ever coming: the parent's death was complete when wait() returned.
    assert _running(pid, started)


def test_the_real_emulator_and_daemon_die_with_their_parent(parent_of: Start, tmp_path: Path) -> None:
    """e2e_support's own start_emulator / start_hub_daemon, as every fixture uses them."""
    parent, children = parent_of(EMULATOR_AND_DAEMON.format(base=str(tmp_path)))
    assert len(children) == 2
    _kill(parent)
    assert _gone_within(children, DEADLINE) == []


def test_a_child_whose_parent_is_already_gone_kills_itself() -> None:
    """The race: if the parent dies before prctl takes effect, the child's pid check kills it."""
    from child_procs import guarded

    proc = subprocess.Popen(guarded(SLEEPER, parent=os.getpid() + 1_000_000))  # not our pid: "gone"
    try:
        assert proc.wait(timeout=DEADLINE) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
