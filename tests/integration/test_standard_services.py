"""The standard gRPC services of a real daemon: grpc.health.v1 (SERVING while it serves,
NOT_SERVING as soon as it begins to stop) and server reflection (the contract without .proto files)."""

from __future__ import annotations

import signal
from typing import Any

import grpc
import pytest
from e2e_support import Daemon
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from aihubd_api.v1 import aihubd_pb2 as api

AIHUBD_SERVICES = ("aihubd.v1.LinkJobService", "aihubd.v1.DaemonService")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _health(daemon: Daemon) -> tuple[grpc.Channel, Any]:
    """A channel and a Health stub (typed Any: the typeshed stub declares no methods)."""
    channel = grpc.insecure_channel(f"unix:{daemon.socket}")
    return channel, health_pb2_grpc.HealthStub(channel)


@pytest.mark.parametrize("service", ["", *AIHUBD_SERVICES])
def test_health_check_serving(daemon: Daemon, service: str) -> None:
    channel, health = _health(daemon)
    with channel:
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
    assert reply.status == SERVING


def test_health_check_of_an_unknown_service_is_not_found(daemon: Daemon) -> None:
    channel, health = _health(daemon)
    with channel, pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest(service="aihubd.v1.NoSuchService"), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("service", ["", "aihubd.v1.LinkJobService"])
def test_health_watch_sees_not_serving_when_the_daemon_stops(daemon: Daemon, service: str) -> None:
    channel, health = _health(daemon)
    with channel:
        stream = health.Watch(health_pb2.HealthCheckRequest(service=service), timeout=60)
        assert next(stream).status == SERVING
        daemon.proc.send_signal(signal.SIGTERM)
        assert next(stream).status == NOT_SERVING  # before the server cuts the stream
        with pytest.raises(grpc.RpcError):
            next(stream)
    assert daemon.proc.wait(timeout=60) == 0


def _reflect(
    daemon: Daemon, *requests: reflection_pb2.ServerReflectionRequest
) -> list[reflection_pb2.ServerReflectionResponse]:
    with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
        return list(stub.ServerReflectionInfo(iter(requests), timeout=30))


def test_reflection_lists_the_daemon_services(daemon: Daemon) -> None:
    (reply,) = _reflect(daemon, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in reply.list_services_response.service}
    assert set(AIHUBD_SERVICES) | {"grpc.health.v1.Health"} <= names


def test_reflection_describes_the_contract(daemon: Daemon) -> None:
    (reply,) = _reflect(daemon, reflection_pb2.ServerReflectionRequest(file_containing_symbol="aihubd.v1.Job"))
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b) for b in reply.file_descriptor_response.file_descriptor_proto
    ]
    aihubd = next(f for f in files if f.package == "aihubd.v1")
    assert {s.name for s in aihubd.service} == set(api.DESCRIPTOR.services_by_name)
    assert {"LinkJobService", "DaemonService", "CatalogService"} <= {s.name for s in aihubd.service}
    job = next(m for m in aihubd.message_type if m.name == "Job")
    assert "job_id" in {f.name for f in job.field}
