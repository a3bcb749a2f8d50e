"""A Qualcomm AI Hub emulator: a real HTTP server speaking the Hub's REST + protobuf
protocol well enough for the unmodified official ``qai-hub`` client to run link
jobs against it. It imports nothing of the daemon.

Modules: ``config`` (EmulatorConfig), ``state`` (users, models, jobs, visibility,
life cycle), ``linker`` (the emulated link and its container format), ``devices``
(catalog), ``signing`` (signed blob URLs), ``faults`` (FaultConfig: injected
errors, slowness, cut and dropped connections, revoked tokens), ``routes_*`` (handlers), ``app``
(HubEmulator), ``thread`` (EmulatorThread), ``server`` (run_forever).
"""

from .app import HubEmulator
from .config import EmulatorConfig
from .faults import FaultConfig
from .thread import EmulatorThread

__all__ = ["EmulatorConfig", "EmulatorThread", "FaultConfig", "HubEmulator"]
