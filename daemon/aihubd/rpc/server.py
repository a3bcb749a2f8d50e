"""grpc.aio on the Unix socket: limits raised for bursts of waiters, socket made private."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from .daemon_servicer import DaemonServicer
from .linkjob_servicer import LinkJobServicer
from .socket_guard import restrict_socket

__all__ = ["MAX_REQUEST_BYTES", "start_server"]

MAX_REQUEST_BYTES = 1 << 20
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
    ("grpc.max_send_message_length", 4 << 20),
    # A burst of ~1000 new streams is otherwise partly CANCELLED (see reference/ceilings.md).
    ("grpc.server.max_pending_requests", 100_000),
    ("grpc.server.max_pending_requests_hard_limit", 100_000),
    ("grpc.so_reuseport", 0),
]


async def start_server(socket_path: Path, linkjobs: LinkJobServicer, daemon: DaemonServicer) -> grpc.aio.Server:
    """Bind ``unix:<socket_path>`` (mode 0600 whatever the umask) and start serving."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    api_grpc.add_LinkJobServiceServicer_to_server(linkjobs, server)
    api_grpc.add_DaemonServiceServicer_to_server(daemon, server)
    old = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{socket_path}")
        await server.start()
    finally:
        os.umask(old)
    restrict_socket(socket_path)
    return server
