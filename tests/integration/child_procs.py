"""The one launcher for the tests' child processes (daemon, emulator, aihubctl, helpers).

Every child first runs a tiny boot step (``python -c BOOT parent-pid argv...``) that asks the
kernel to SIGKILL it when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, kept
across ``execvp``), checks that its parent is still the process that started it (if the parent
died before the ``prctl`` took effect, it kills itself at once) and then becomes the wanted
program. So a test run that is itself killed (SIGKILL, no ``finally`` runs) leaves no daemon or
emulator behind.

Why a boot step and not ``preexec_fn``: ``preexec_fn`` makes subprocess ``fork()`` the whole
(multi-threaded, gRPC-using) test process and run Python in the child, where gRPC's fork
handlers can abort it before ``exec`` ("epoll_wait error: Bad file descriptor", exit -6).

The signal comes when the *thread* that started the child ends, so start children from the
main thread (as fixtures and tests do), not from a short-lived worker thread. The kernel also
clears it when the child execs a set-user-ID program or changes its uid (``setpriv``, ``runuser``).

Only the standard library is imported: a plain ``python -c`` parent can use it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["BOOT", "guarded", "popen", "run"]

BOOT = """\
import ctypes, os, signal, sys
parent, argv = int(sys.argv[1]), sys.argv[2:]
if sys.platform.startswith("linux"):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, ctypes.c_ulong(signal.SIGKILL)) != 0:  # PR_SET_PDEATHSIG
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
if os.getppid() != parent:  # the parent died before prctl: nobody would kill us later
    os.kill(os.getpid(), signal.SIGKILL)
os.execvp(argv[0], argv)
"""


def guarded(argv: Sequence[str], parent: int | None = None) -> list[str]:
    """``argv`` run through the boot step, as a child of ``parent`` (default: this process)."""
    if not argv:
        raise ValueError("an empty command")
    return [sys.executable, "-c", BOOT, str(os.getpid() if parent is None else parent), *map(str, argv)]


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kwargs)`` whose child dies with the calling process."""
    return subprocess.Popen(guarded(argv), **kwargs)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(argv, **kwargs)`` whose child dies with the calling process."""
    return subprocess.run(guarded(argv), **kwargs)
