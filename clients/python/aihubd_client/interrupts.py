"""Holding Ctrl-C back while a gRPC call is being set up.

grpc's call set-up is not safe against an exception arriving half-way (it can leave the
channel's locks held), and a call can only be cancelled once the caller holds it. So the few
lines that start a streaming call run with SIGINT deferred; the interrupt is raised right after.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["deferred_keyboard_interrupt"]


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
