"""The one key that per-client bounds count by: the gRPC peer, plus the client's id when it sends one.

gRPC names every Unix-socket peer ``unix:`` (grpc.aio gives no connection id), so by the peer
alone all local clients would share one bound. The aihubd clients (Python sync and asyncio,
Node) send a random id, one per channel, in the ``aihubd-client-id`` call metadata; the key is
the peer plus that id, so each channel is its own client for the look-up bound
(``services/lookups.py``) and the stream cap (``conn_limits.StreamLimit``). A call without it
(grpcurl, buf curl, other tools) keeps the shared key of its address. A malformed id (more than
64 characters, or any outside ``[A-Za-z0-9_-]``) is INVALID_ARGUMENT naming the key.

This is a fairness key among the local user's own clients (the socket is that user's only, and
any client may send any id), not a security boundary.
"""

from __future__ import annotations

import re

from ..errors import InvalidArgument
from .context import Context

__all__ = ["CLIENT_ID_METADATA", "describe_peer", "peer_key"]

CLIENT_ID_METADATA = "aihubd-client-id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SEPARATOR = " client "


def peer_key(context: Context) -> str:
    """``context.peer()``, plus ``" client <id>"`` when the call carries a well-formed client id;
    raises InvalidArgument for a malformed one."""
    peer = context.peer() or ""
    for key, value in context.invocation_metadata() or ():
        if key != CLIENT_ID_METADATA:
            continue
        text = value if isinstance(value, str) else value.decode("ascii", "replace")
        if _WELL_FORMED.fullmatch(text) is None:
            raise InvalidArgument(
                f"metadata {CLIENT_ID_METADATA!r} must be 1 to 64 characters of A-Z a-z 0-9 _ - "
                f"(got {len(text)} characters); send one random id per channel, or none"
            )
        return f"{peer}{_SEPARATOR}{text}"
    return peer


def describe_peer(key: str) -> str:
    """Who ``key`` (a ``peer_key``) is, for error messages."""
    peer, _, client_id = key.partition(_SEPARATOR)
    if client_id:
        return f"client {client_id}"
    if peer.startswith("unix:"):
        return f"the Unix socket's clients without an {CLIENT_ID_METADATA} together"
    return f"connection {peer}"
