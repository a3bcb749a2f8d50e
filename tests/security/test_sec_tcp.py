"""The optional loopback TCP port: a per-start random bearer token in a 0600 file; every call
over TCP without it ends UNAUTHENTICATED before any servicer code runs; the Unix socket needs none.

In process against ``rpc.server.start_server`` (with stand-in servicers), plus the end-to-end
``aihubd serve --tcp-port`` test.
"""

from __future__ import annotations

import os
import socket as socketlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import symbol_database
from sec_support import Listener, clean_env, is_loopback, listening_sockets, spawn_daemon

from aihubd.rpc.server import start_server
from aihubd.rpc.socket_guard import SocketError, prepare_socket_dir
from aihubd.rpc.tcp_auth import TOKEN_FILE_NAME
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

SERVICES = api.DESCRIPTOR.services_by_name


def _free_port() -> int:
    with socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Daemon(api_grpc.DaemonServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def GetDaemonInfo(
        self, request: api.GetDaemonInfoRequest, context: grpc.aio.ServicerContext
    ) -> api.DaemonInfo:
        self.calls += 1
        return api.DaemonInfo(version="stand-in")


class _LinkJobs(api_grpc.LinkJobServiceServicer):
    """Unimplemented except GetJob and WaitJob (a real server stream), counting what ran."""

    def __init__(self) -> None:
        self.calls = 0

    async def GetJob(self, request: api.GetJobRequest, context: grpc.aio.ServicerContext) -> api.Job:
        self.calls += 1
        return api.Job(job_id=request.job_id)

    async def WaitJob(self, request: api.WaitJobRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[api.Job]:
        self.calls += 1
        yield api.Job(job_id=request.job_id, state=api.JOB_STATE_CREATED)
        yield api.Job(job_id=request.job_id, state=api.JOB_STATE_DONE)


class Served:
    def __init__(
        self, socket: Path, port: int | None, server: grpc.aio.Server, daemon: _Daemon, linkjobs: _LinkJobs
    ) -> None:
        self.socket, self.port, self.server, self.daemon, self.linkjobs = socket, port, server, daemon, linkjobs

    @property
    def token_file(self) -> Path:
        return self.socket.parent / TOKEN_FILE_NAME

    def token(self) -> str:
        return self.token_file.read_text().strip()

    def ran(self) -> int:
        return self.daemon.calls + self.linkjobs.calls


async def _serve(base: Path, tcp: bool) -> Served:
    socket = base / "run" / "aihubd.sock"
    prepare_socket_dir(socket)
    daemon, linkjobs = _Daemon(), _LinkJobs()
    port = _free_port() if tcp else None
    server = await start_server(socket, linkjobs, daemon, tcp_port=port)  # type: ignore[arg-type]
    return Served(socket, port, server, daemon, linkjobs)


@pytest.fixture
async def served(base: Path) -> AsyncIterator[Served]:
    s = await _serve(base, tcp=True)
    try:
        yield s
    finally:
        await s.server.stop(None)


def _request_class(method) -> type:  # type: ignore[no-untyped-def]
    return symbol_database.Default().GetSymbol(method.input_type.full_name)


async def _call(channel: grpc.aio.Channel, method, metadata=None, timeout: float = 10):  # type: ignore[no-untyped-def]
    """Call any method of the contract; returns (status code, responses)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    request = (
        _request_class(method)(job_id="j1")
        if "job_id" in method.input_type.fields_by_name
        else _request_class(method)()
    )
    kwargs = {"request_serializer": type(request).SerializeToString, "response_deserializer": lambda b: b}
    try:
        if method.server_streaming:
            call = channel.unary_stream(path, **kwargs)(request, metadata=metadata, timeout=timeout)
            return grpc.StatusCode.OK, [r async for r in call]
        return grpc.StatusCode.OK, [
            await channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=timeout)
        ]
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()


ALL_METHODS = [m for s in SERVICES.values() for m in s.methods]


async def test_token_file_is_private_and_fresh(served: Served) -> None:
    info = os.lstat(served.token_file)
    assert stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(served.socket.parent).st_mode) == 0o700
    token = served.token()
    assert len(token) >= 32 and token.isascii() and token.isprintable() and " " not in token
    assert [p.name for p in served.socket.parent.iterdir() if p.name.startswith(".")] == []  # no temp left


async def test_every_method_over_tcp_without_the_token_is_unauthenticated(served: Served) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        for method in ALL_METHODS:
            code, details = await _call(channel, method)
            assert code == grpc.StatusCode.UNAUTHENTICATED, (method.full_name, code, details)
            assert "Bearer" in details and served.token() not in details
        unknown = channel.unary_unary("/aihubd.v1.NoSuchService/Nope")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unknown(b"", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert served.ran() == 0, "servicer code ran for an unauthenticated TCP call"


@pytest.mark.parametrize(
    "make",
    [
        lambda t: [("authorization", f"Bearer {t}x")],
        lambda t: [("authorization", f"Bearer {t[:-1]}")],
        lambda t: [("authorization", "Bearer ")],
        lambda t: [("authorization", f"Basic {t}")],
        lambda t: [("authorization", t)],
        lambda t: [("x-authorization", f"Bearer {t}")],
        lambda t: [("authorization", f"Bearer {t.upper() if t.upper() != t else t.lower()}")],
    ],
    ids=["suffix", "prefix", "empty", "basic", "no-scheme", "other-key", "case-changed"],
)
async def test_a_wrong_token_is_unauthenticated(served: Served, make) -> None:  # type: ignore[no-untyped-def]
    metadata = make(served.token())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        for method in ALL_METHODS:
            code, _ = await _call(channel, method, metadata)
            assert code == grpc.StatusCode.UNAUTHENTICATED, method.full_name
    assert served.ran() == 0


async def test_the_token_opens_tcp(served: Served) -> None:
    metadata = [("authorization", f"Bearer {served.token()}")]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        daemon = api_grpc.DaemonServiceStub(channel)
        assert (await daemon.GetDaemonInfo(api.GetDaemonInfoRequest(), metadata=metadata, timeout=10)).version
        jobs = api_grpc.LinkJobServiceStub(channel)
        states = [j.state async for j in jobs.WaitJob(api.WaitJobRequest(job_id="j1"), metadata=metadata, timeout=10)]
        assert states == [api.JOB_STATE_CREATED, api.JOB_STATE_DONE]
        lower = [("authorization", f"bearer {served.token()}")]  # the scheme is case-insensitive (RFC 6750)
        assert (await jobs.GetJob(api.GetJobRequest(job_id="j2"), metadata=lower, timeout=10)).job_id == "j2"
        # Authenticated but unimplemented: the servicer's own answer, not an auth failure.
        for method in ALL_METHODS:
            code, _ = await _call(channel, method, metadata)
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED), (method.full_name, code)


async def test_the_unix_socket_needs_no_token(served: Served) -> None:
    async with grpc.aio.insecure_channel(f"unix:{served.socket}") as channel:
        assert (await api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=10)).version
        jobs = api_grpc.LinkJobServiceStub(channel)
        assert len([j async for j in jobs.WaitJob(api.WaitJobRequest(job_id="j1"), timeout=10)]) == 2


async def test_listens_on_loopback_only(served: Served) -> None:
    mine = [s for s in listening_sockets(os.getpid()) if s.address.endswith(f":{served.port}")]
    assert mine and all(s.family.startswith("tcp") and s.address == f"127.0.0.1:{served.port}" for s in mine), mine
    assert all(is_loopback(s) for s in mine)
    assert Listener("unix", str(served.socket)) in listening_sockets(os.getpid())


async def test_each_start_has_a_new_token(base: Path) -> None:
    first = await _serve(base, tcp=True)
    old = first.token()
    await first.server.stop(None)
    second = await _serve(base, tcp=True)
    try:
        assert second.token() != old
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            code, _ = await _call(
                channel,
                SERVICES["DaemonService"].methods_by_name["GetDaemonInfo"],
                [("authorization", f"Bearer {old}")],
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await second.server.stop(None)


async def test_no_tcp_unless_asked(base: Path) -> None:
    def tcp() -> set[Listener]:
        return {s for s in listening_sockets(os.getpid()) if s.family.startswith("tcp")}

    before = tcp()
    served = await _serve(base, tcp=False)
    try:
        assert not served.token_file.exists()
        assert tcp() == before
        async with grpc.aio.insecure_channel(f"unix:{served.socket}") as channel:
            assert (
                await api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=10)
            ).version
    finally:
        await served.server.stop(None)


async def test_a_taken_port_is_a_clear_error(base: Path) -> None:
    socket = base / "run" / "aihubd.sock"
    prepare_socket_dir(socket)
    with socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SocketError, match=f"127.0.0.1:{port}"):
            await start_server(socket, _LinkJobs(), _Daemon(), tcp_port=port)  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [-1, 65536])
async def test_a_bad_port_number_is_refused(base: Path, port: int) -> None:
    socket = base / "run" / "aihubd.sock"
    prepare_socket_dir(socket)
    with pytest.raises(SocketError, match="not a TCP port number"):
        await start_server(socket, _LinkJobs(), _Daemon(), tcp_port=port)  # type: ignore[arg-type]


# ------------------------------------------------------------------ end to end


def test_aihubd_serve_tcp_port_end_to_end(base: Path) -> None:
    socket = base / "run" / "aihubd.sock"
    port = _free_port()
    d = spawn_daemon(
        socket,
        base / "state",
        base / "daemon.log",
        ["--hub", "emulator", "--emulator-manual"],
        env=clean_env(),
        extra=["--poll-interval", "3600", "--tcp-port", str(port)],
    )
    try:
        token_file = socket.parent / TOKEN_FILE_NAME
        assert stat.S_IMODE(os.lstat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token not in d.log_text() and token not in " ".join(d.argv)
        listeners = listening_sockets(d.pid)
        assert Listener("unix", str(socket)) in listeners
        assert [s for s in listeners if s.family.startswith("unix")] == [Listener("unix", str(socket))]
        tcp = [s for s in listeners if s.family.startswith("tcp")]
        assert any(s.address == f"127.0.0.1:{port}" for s in tcp)
        assert all(is_loopback(s) for s in tcp), tcp  # the embedded emulator is on loopback too
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = api_grpc.DaemonServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert (
                stub.GetDaemonInfo(
                    api.GetDaemonInfoRequest(), timeout=10, metadata=[("authorization", f"Bearer {token}")]
                ).hub_kind
                == "emulator"
            )
    finally:
        d.stop()
