"""The one launcher for the tests' child processes (daemon, emulator, helpers).

Every child asks the kernel, between fork and exec, to SIGKILL it when its parent dies
(Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so a test run that is itself killed (SIGKILL,
no ``finally`` runs) leaves no daemon or emulator behind. The child then checks that its parent
is still the process that started it: if the parent died before the ``prctl`` took effect, the
child kills itself at once.

The signal comes when the *thread* that started the child ends, so start children from the
main thread (as fixtures and tests do), not from a short-lived worker thread. The kernel also
clears it when the child execs a set-user-ID program or changes its uid (``setpriv``, ``runuser``).

Only the standard library is imported: a plain ``python -c`` parent can use it too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["popen", "run"]

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, resolved in the parent: nothing is loaded between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()
_SIGKILL = ctypes.c_ulong(signal.SIGKILL)  # built in the parent too


def _die_with(parent: int) -> Callable[[], None]:
    """The ``preexec_fn`` of a child of ``parent``: die with it, or now if it is already gone."""

    def preexec() -> None:
        if _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, _SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")  # Popen raises it
        if os.getppid() != parent:  # the parent died before prctl: nobody would kill us later
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kwargs)`` whose child dies with the calling process."""
    if "preexec_fn" in kwargs:
        raise TypeError("popen() sets preexec_fn itself")
    return subprocess.Popen(argv, preexec_fn=_die_with(os.getpid()), **kwargs)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(argv, **kwargs)`` whose child dies with the calling process."""
    if "preexec_fn" in kwargs:
        raise TypeError("run() sets preexec_fn itself")
    return subprocess.run(argv, preexec_fn=_die_with(os.getpid()), **kwargs)
