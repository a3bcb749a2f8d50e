"""Status codes map to the client's errors through one table; an absent daemon is named."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import pytest

from aihubd_client import (
    AihubdError,
    Client,
    DaemonUnavailableError,
    HubUnavailableError,
    InternalError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UserError,
)
from aihubd_client.errors import STATUS_ERRORS

MAPPING = [
    (grpc.StatusCode.INVALID_ARGUMENT, UserError),
    (grpc.StatusCode.FAILED_PRECONDITION, UserError),
    (grpc.StatusCode.OUT_OF_RANGE, UserError),
    (grpc.StatusCode.ALREADY_EXISTS, UserError),
    (grpc.StatusCode.NOT_FOUND, NotFoundError),
    (grpc.StatusCode.UNAVAILABLE, HubUnavailableError),
    (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
    (grpc.StatusCode.UNAUTHENTICATED, PermissionDeniedError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
    (grpc.StatusCode.INTERNAL, InternalError),
    (grpc.StatusCode.UNKNOWN, InternalError),
    (grpc.StatusCode.UNIMPLEMENTED, InternalError),
    (grpc.StatusCode.DATA_LOSS, InternalError),
    (grpc.StatusCode.ABORTED, InternalError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, InternalError),
]


@pytest.mark.parametrize(("code", "error_type"), MAPPING, ids=[code.name for code, _ in MAPPING])
def test_unary_status_codes_map_to_errors(client, fake, code, error_type):
    fake.fail = (code, f"details for {code.name}")
    with pytest.raises(error_type) as caught:
        client.get_job("jsuccess")
    assert type(caught.value) is error_type
    assert str(caught.value) == f"details for {code.name}"
    assert caught.value.code is code


STREAM_MAPPING = MAPPING[:6]


@pytest.mark.parametrize(("code", "error_type"), STREAM_MAPPING, ids=[c.name for c, _ in STREAM_MAPPING])
def test_stream_status_codes_map_to_errors(client, fake, code, error_type):
    job = client.get_job("jhang")
    fake.fail = (code, "stream refused")
    with pytest.raises(error_type, match="stream refused"):
        job.wait()


def test_table_lists_the_documented_codes():
    assert issubclass(NotFoundError, UserError)
    assert all(issubclass(error, AihubdError) for error in STATUS_ERRORS.values())
    assert STATUS_ERRORS[grpc.StatusCode.NOT_FOUND] is NotFoundError


def test_unknown_job_is_not_found(client):
    with pytest.raises(NotFoundError, match="'nope' could not be found"):
        client.get_job("nope")


def test_empty_job_id_is_a_user_error_without_a_call(client, fake):
    with pytest.raises(UserError, match="Invalid job_id"):
        client.get_job("")
    assert fake.requests == []


def test_missing_socket_names_path_and_how_to_start(socket_dir: Path):
    missing = socket_dir / "absent.sock"
    with Client(missing) as client:
        with pytest.raises(DaemonUnavailableError) as caught:
            client.get_job("j1")
    message = str(caught.value)
    assert str(missing) in message
    assert "aihubd serve --detach" in message and "aihubd install-service" in message
    assert "make demo" not in message  # it leaves nothing running
    assert caught.value.socket_path == str(missing)


def test_socket_without_listener_is_daemon_unavailable(socket_dir: Path):
    path = socket_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # the file exists, nobody listens: connect is refused
    try:
        with Client(path) as client, pytest.raises(DaemonUnavailableError) as caught:
            client.daemon_info()
    finally:
        dead.close()
    assert str(path) in str(caught.value)
    assert "aihubd serve" in str(caught.value)


def test_daemon_dying_during_wait_is_daemon_unavailable_after_the_reconnect_window(client, fake, running):
    job = client.get_job("jhang")
    fake.on_hang = lambda: running.server.stop(grace=None)
    with pytest.raises(DaemonUnavailableError, match="aihubd serve"):
        job.wait()  # the fixture's client gives a vanished daemon half a second


def test_daemon_reporting_an_unreachable_hub_is_hub_unavailable(client, fake):
    details = "cannot reach the Hub (GET https://hub/api/v1/jobs/: ClientConnectorError)"
    fake.fail = (grpc.StatusCode.UNAVAILABLE, details)
    with pytest.raises(HubUnavailableError) as caught:
        client.daemon_info()
    assert str(caught.value) == details


def test_daemon_saying_it_stops_is_daemon_unavailable(client, fake):
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "aihubd is shutting down; wait again once it is back")
    with pytest.raises(DaemonUnavailableError, match="wait again once it is back"):
        client.get_job("jsuccess")


def test_closed_client_refuses_calls(socket_path):
    client = Client(socket_path)
    client.close()
    with pytest.raises(AihubdError, match="closed"):
        client.get_job("jsuccess")
