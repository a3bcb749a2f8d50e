"""rpc/peers.py: the key per-client bounds count by (the peer, plus a well-formed client id)."""

from __future__ import annotations

from typing import Any

import pytest

from aihubd.errors import InvalidArgument
from aihubd.rpc.peers import CLIENT_ID_METADATA, describe_peer, peer_key


class FakeContext:
    def __init__(self, peer: str, metadata: tuple[tuple[str, Any], ...] = ()) -> None:
        self._peer = peer
        self._metadata = metadata

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata


def key(peer: str, *metadata: tuple[str, Any]) -> str:
    return peer_key(FakeContext(peer, metadata))  # type: ignore[arg-type]


def test_each_client_id_on_the_unix_socket_is_its_own_key() -> None:
    a = key("unix:", (CLIENT_ID_METADATA, "a" * 32))
    b = key("unix:", ("user-agent", "grpc-python"), (CLIENT_ID_METADATA, "B-9_" * 16))
    assert len({a, b, key("unix:")}) == 3
    assert describe_peer(a) == f"client {'a' * 32}"


def test_without_an_id_callers_keep_the_key_of_their_address() -> None:
    assert key("unix:", ("user-agent", "grpcurl")) == key("unix:") == "unix:"
    assert "without an aihubd-client-id together" in describe_peer("unix:")
    assert describe_peer(key("ipv4:127.0.0.1:5000")) == "connection ipv4:127.0.0.1:5000"


@pytest.mark.parametrize("bad", ["", "x" * 65, "a b", "id/1", "é", "a\n"])
def test_a_malformed_id_is_invalid_argument_naming_the_key(bad: str) -> None:
    with pytest.raises(InvalidArgument, match=CLIENT_ID_METADATA):
        key("unix:", (CLIENT_ID_METADATA, bad))
