"""A Qualcomm AI Hub emulator: a real HTTP server speaking the Hub's REST + protobuf
protocol well enough for the unmodified official ``qai-hub`` client to run link
jobs against it. It imports nothing of the daemon.

Modules: ``config`` (EmulatorConfig), ``state`` (users, models, jobs, visibility,
life cycle), ``linker`` (the emulated link and its container format), ``devices``
(catalog), ``signing`` (S3 V2 signed blob URLs), ``transfers`` (which reply variant a
transfer request gets: legacy bare, URL, multipart or S3 credentials), ``s3`` (moto's S3 server
for the credentials path), ``requestlog`` (request shapes per client), ``faults`` (FaultConfig:
injected errors, slowness, cut and dropped connections, revoked tokens), ``routes_*``
(handlers), ``app`` (HubEmulator), ``thread`` (EmulatorThread), ``server`` (run_forever).
"""

from .app import HubEmulator
from .config import EmulatorConfig
from .faults import FaultConfig
from .thread import EmulatorThread

__all__ = ["EmulatorConfig", "EmulatorThread", "FaultConfig", "HubEmulator"]
