"""Persisting the emulator's metadata to ``<state_dir>/state.json``.

Only used when a state dir is given. Writes are atomic (temp file + fsync +
rename) and batched: handlers only mark the state dirty, ``flush_loop`` writes
at most every ``interval`` seconds, and ``stop()`` writes a final time.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from .state import EmulatorState

__all__ = ["STATE_FILE", "flush_loop", "load_state", "save_state"]

STATE_FILE = "state.json"


def load_state(state: EmulatorState, state_dir: Path) -> bool:
    """Restore ``state`` from ``state_dir`` if a snapshot is there; True if loaded."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return False
    state.restore(json.loads(path.read_text(encoding="utf-8")))
    return True


def save_state(state: EmulatorState, state_dir: Path) -> None:
    """Write a snapshot of ``state`` atomically and clear its dirty flag."""
    state.dirty = False
    data = json.dumps(state.snapshot(), sort_keys=True).encode("utf-8")
    path = state_dir / STATE_FILE
    tmp = path.with_name(STATE_FILE + ".tmp")
    with open(tmp, "wb") as out:
        os.chmod(tmp, 0o600)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


async def flush_loop(state: EmulatorState, state_dir: Path, interval: float = 0.2) -> None:
    """Save the state whenever it is dirty, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        if state.dirty:
            save_state(state, state_dir)
