"""Keeping Ctrl-C from being raised inside grpc.

grpc's Python code is not safe against an exception arriving at an arbitrary point: its locks
are ``threading.Condition`` objects, whose ``__enter__`` and ``__exit__`` are Python functions,
so a KeyboardInterrupt raised just after the lock is taken (or just before it is released)
leaves the lock owned by the main thread for good. The main thread does not notice (the lock is
reentrant), but grpc's channel thread, which delivers the events of every call on the channel
under the channel's lock, blocks on it forever, and every later call on that channel hangs.

So the main thread never lets SIGINT raise while it is inside grpc:

- ``deferred_keyboard_interrupt``: the few lines that start a call, cancel one, or read a failed
  one's status run with SIGINT recorded; it is delivered right after.
- ``cancel_on_keyboard_interrupt``: while the main thread waits for a call (a unary answer, a
  stream's next message), what the SIGINT handler raises is kept, the call is cancelled instead
  (which ends the wait), and it is raised once the wait is over, outside grpc.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["cancel_on_keyboard_interrupt", "deferred_keyboard_interrupt"]

_Handler = Callable[[int, "FrameType | None"], Any]


@contextmanager
def deferred_keyboard_interrupt() -> Iterator[None]:
    """Run the block with SIGINT recorded, then deliver it to the previous handler.

    Only the main thread receives signals; anywhere else this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, FrameType | None]] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append((signum, frame))

    try:
        previous = signal.signal(signal.SIGINT, record)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(*received[0])  # the default handler raises KeyboardInterrupt
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt


@contextmanager
def cancel_on_keyboard_interrupt(cancel: Callable[[], object]) -> Iterator[None]:
    """Run the block (the main thread waiting for a call) with Ctrl-C calling ``cancel``
    instead of raising inside it; what the SIGINT handler raised is raised when the block ends.

    The handler in place still runs when the signal arrives. When it returns (a handler that
    only takes note), the wait goes on as before. When it raises (Python's default raises
    KeyboardInterrupt), the exception is kept, ``cancel`` is called (grpc's locks are reentrant
    and a blocked wait has released them, so this is safe from a signal handler), and the
    exception replaces whatever the cancelled wait ends with. A second Ctrl-C while the call is
    being cancelled runs the handler as usual, so a wait that would not end can still be left.

    Only the main thread receives signals, and only a Python handler raises; otherwise (another
    thread, SIGINT ignored or handled outside Python) this is a no-op.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    handler = _CancelInstead(previous, cancel)
    try:
        signal.signal(signal.SIGINT, handler)  # a pending signal reaches `previous` first
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        handler.waiting = False  # from here a second Ctrl-C is kept too, not raised
        signal.signal(signal.SIGINT, previous)  # runs `handler` for a signal still pending
        if handler.raised is not None:
            raise handler.raised from None


class _CancelInstead:
    """The SIGINT handler of ``cancel_on_keyboard_interrupt``."""

    def __init__(self, previous: _Handler, cancel: Callable[[], object]) -> None:
        self.previous = previous
        self.cancel = cancel
        self.waiting = True
        self.raised: BaseException | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.raised is not None and self.waiting:
            self.previous(signum, frame)  # pressed again while cancelling: as if we were not here
            return
        try:
            self.previous(signum, frame)
        except BaseException as exc:  # whatever the handler raised, raised after the wait
            if self.raised is None:
                self.raised = exc
            # never raise inside the wait (a second Ctrl-C still gets out)
            with contextlib.suppress(Exception):
                self.cancel()
