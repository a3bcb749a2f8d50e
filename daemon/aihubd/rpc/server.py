"""grpc.aio on the Unix socket: limits raised for bursts of waiters, socket made private.

Optionally also a loopback TCP port (``tcp_port``), never another interface: callers there must
present the per-start bearer token that ``start_server`` writes to a 0600 file in the socket's
private directory (see ``tcp_auth``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from .catalog_servicer import CatalogServicer
from .conn_limits import StreamLimit, server_options
from .daemon_servicer import DaemonServicer
from .linkjob_servicer import LinkJobServicer
from .socket_guard import SocketError, restrict_socket
from .standard_services import DaemonHealth, add_reflection
from .tcp_auth import TOKEN_FILE_NAME, BearerTokenInterceptor, new_token, write_token_file

__all__ = ["MAX_REQUEST_BYTES", "TCP_HOST", "start_server"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
TCP_HOST = "127.0.0.1"  # loopback only, whatever the caller asks
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
    ("grpc.max_send_message_length", 4 << 20),
    # A burst of ~1000 new streams is otherwise partly CANCELLED (see reference/ceilings.md).
    ("grpc.server.max_pending_requests", 100_000),
    ("grpc.server.max_pending_requests_hard_limit", 100_000),
    ("grpc.so_reuseport", 0),
]


async def start_server(
    socket_path: Path,
    linkjobs: LinkJobServicer,
    daemon: DaemonServicer,
    *,
    tcp_port: int | None = None,
    tcp_token_file: Path | None = None,
    catalog: CatalogServicer | None = None,
    health: DaemonHealth | None = None,
    fd_limit: int | None = None,
    max_streams: int = 5000,
    handshake_timeout: float = 10.0,
) -> grpc.aio.Server:
    """Bind ``unix:<socket_path>`` (mode 0600 whatever the umask) and start serving.

    With ``tcp_port`` (0: any free port) the same services are also served on 127.0.0.1 to callers
    presenting the bearer token written to ``tcp_token_file`` (default: ``tcp-token`` beside the
    socket, which must be in the private directory ``prepare_socket_dir`` checked).

    Health (``health``, or a fresh one) answers SERVING once the server runs; server reflection is on.
    Connections are bounded by ``fd_limit`` (default: the current soft limit; a reserve stays free),
    ``handshake_timeout`` (seconds for a new connection to speak HTTP/2) and ``max_streams`` (open
    streams per peer).
    """
    if not socket_path.is_absolute():
        raise SocketError(f"socket path {socket_path} must be absolute")
    interceptors: list[grpc.aio.ServerInterceptor] = []
    token_file: Path | None = None
    if tcp_port is not None:
        if not 0 <= tcp_port <= 65535:
            raise SocketError(f"--tcp-port {tcp_port} is not a TCP port number (0-65535)")
        token = new_token()
        token_file = tcp_token_file or socket_path.parent / TOKEN_FILE_NAME
        write_token_file(token_file, token)  # before the port exists: no caller ever waits for it
        interceptors.append(BearerTokenInterceptor(token))

    limits = server_options(fd_limit, max_streams=max_streams, handshake_timeout=handshake_timeout)
    log.info("connection limits: %s", ", ".join(f"{name.removeprefix('grpc.')}={value}" for name, value in limits))
    server = grpc.aio.server(options=[*SERVER_OPTIONS, *limits], interceptors=interceptors or None)
    streams = StreamLimit(max_streams)
    for servicer, service in ((linkjobs, "LinkJobService"), (daemon, "DaemonService"), (catalog, "CatalogService")):
        if servicer is not None:
            streams.limit_servicer(servicer, api.DESCRIPTOR.services_by_name[service])
    api_grpc.add_LinkJobServiceServicer_to_server(linkjobs, server)
    api_grpc.add_DaemonServiceServicer_to_server(daemon, server)
    if catalog is not None:
        api_grpc.add_CatalogServiceServicer_to_server(catalog, server)
    health = health or DaemonHealth()
    health.add_to(server)
    add_reflection(server)
    bound: int | None = None
    old = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{socket_path}")
        if tcp_port is not None:
            bound = _add_tcp_port(server, tcp_port)
        await server.start()
    finally:
        os.umask(old)
    restrict_socket(socket_path)
    await health.serving()
    if bound is not None:
        log.info("also serving on %s:%d (TCP, bearer token in %s)", TCP_HOST, bound, token_file)
    return server


def _add_tcp_port(server: grpc.aio.Server, port: int) -> int:
    try:
        bound = server.add_insecure_port(f"{TCP_HOST}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise SocketError(f"cannot listen on {TCP_HOST}:{port} (in use?); choose another --tcp-port")
    return bound
