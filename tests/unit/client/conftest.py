"""A real gRPC server on a temporary Unix socket, serving the fake daemon of client_fakes.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from client_fakes import FAST_BACKOFF, FAST_RECONNECT, FakeDaemon

from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc
from aihubd_client import Client


@dataclass
class RunningServer:
    path: Path
    server: grpc.Server


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short temp dir: a Unix socket path must fit in 108 bytes."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    path = Path(tempfile.mkdtemp(prefix="aihubc-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def running(fake: FakeDaemon, socket_dir: Path) -> Iterator[RunningServer]:
    path = socket_dir / "d.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_LinkJobServiceServicer_to_server(fake, server)
    pb_grpc.add_DaemonServiceServicer_to_server(fake, server)
    server.add_insecure_port(f"unix:{path}")
    server.start()
    yield RunningServer(path, server)
    server.stop(grace=None).wait(10)


@pytest.fixture
def socket_path(running: RunningServer) -> Path:
    return running.path


@pytest.fixture
def client(socket_path: Path) -> Iterator[Client]:
    with Client(socket_path, reconnect=FAST_RECONNECT, submit_backoff=FAST_BACKOFF) as instance:
        yield instance


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp working directory holding two .dlc files, as the current directory."""
    (tmp_path / "a.dlc").write_bytes(b"dlc-a")
    (tmp_path / "b.dlc").write_bytes(b"dlc-b")
    monkeypatch.chdir(tmp_path)
    return tmp_path
