"""Connections and streams under abuse (issue 11, items 8 and 11): an idle-connection flood, the
daemon out of file descriptors, too many streams, and a stream nobody reads.

Each test runs a real daemon subprocess on the embedded emulator; fd limits are set on the child
(``preexec_fn`` at start, ``prlimit`` on the running pid) and descriptors are counted in
``/proc/PID/fd``. Every wait is on a condition with a bound, never a sleep.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import pytest
from child_procs import popen
from e2e_support import clean_env
from faults_support import WAIT, ServedDaemon, serve_argv

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc
from aihubd_client import Client, ResourceExhaustedError

DEVICE = "Snapdragon 8 Elite QRD"
FD_LIMIT = 300  # the daemon's soft and hard RLIMIT_NOFILE in the flood tests
FLOOD = 400  # idle raw connections: more than the daemon has descriptors


def _start(base: Path, *extra: str, nofile: int | tuple[int, int] | None = None) -> ServedDaemon:
    """``aihubd serve`` on the embedded emulator (fast links, plain URL transfers), once ready;
    ``nofile``: its RLIMIT_NOFILE (soft = hard, or (soft, hard))."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile if isinstance(nofile, tuple) else (nofile, nofile))

    argv = serve_argv(base / "s.sock", base / "state", *extra)
    argv += ["--hub", "emulator", "--emulator-link-seconds", "0.05", "--emulator-transfer", "url"]
    proc = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(), preexec_fn=limit)
    daemon = ServedDaemon(proc, base / "s.sock", base / "state")
    threading.Thread(target=daemon._pump, daemon=True).start()
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != f"aihubd ready on unix:{daemon.socket}":
        daemon.stop()
        raise AssertionError(f"the daemon did not start ({line!r}):\n" + "\n".join(daemon.stderr_lines))
    return daemon


@contextmanager
def served(base: Path, *extra: str, nofile: int | tuple[int, int] | None = None) -> Iterator[ServedDaemon]:
    daemon = _start(base, *extra, nofile=nofile)
    try:
        yield daemon
    finally:
        daemon.stop()


def _fds(pid: int) -> list[str]:
    """What each open descriptor of ``pid`` points at."""
    targets = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except FileNotFoundError:
            continue  # closed meanwhile
    return targets


def _until(condition: Callable[[], bool], what: str, bound: float = WAIT) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {bound:g} s waiting for {what}")
        time.sleep(0.05)  # polling a condition, bounded: not a synchronisation by sleep


def _done_job(daemon: ServedDaemon, base: Path, size: int) -> str:
    """A finished job whose target model (about ``size`` bytes) is in the daemon's cache."""
    model = base / "graph.dlc"
    model.write_bytes(os.urandom(size))
    with Client(daemon.socket) as client:
        job = client.submit_link_job(str(model), DEVICE, name="conns")
        assert job.wait(timeout=WAIT).success
        data = job.download_target_model(timeout=WAIT)  # caches it
        assert isinstance(data, bytes) and len(data) >= size
        return job.job_id


@contextmanager
def idle_flood(path: Path, count: int) -> Iterator[list[socket.socket]]:
    """``count`` raw connections to the socket that never send a byte."""
    with ExitStack() as stack:
        conns = []
        for _ in range(count):
            conn = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            conn.settimeout(WAIT)
            conn.connect(str(path))
            conns.append(conn)
        yield conns


def _read_all(stub: api_grpc.LinkJobServiceStub, job_id: str) -> bytes:
    chunks = stub.ReadTargetModel(api.ReadTargetModelRequest(job_id=job_id), timeout=WAIT)
    return b"".join(c.data for c in chunks)


# -- item 8 --------------------------------------------------------------------------------------


def _backlog(path: Path) -> int:
    """Connections waiting in the listening socket's accept queue (``ss``: Recv-Q of a listener)."""
    out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, check=True, timeout=WAIT).stdout
    for line in out.splitlines():
        fields = line.split()
        if str(path) in fields:
            return int(fields[2])
    raise AssertionError(f"nobody listens on {path}:\n{out}")


def _fresh_channel(path: Path) -> grpc.Channel:
    """A channel with its own connection (channels of one process otherwise share one)."""
    return grpc.insecure_channel(f"unix:{path}", options=[("grpc.use_local_subchannel_pool", 1)])


def test_an_idle_flood_is_drained_and_existing_clients_keep_their_descriptors(base: Path) -> None:
    with served(base, "--handshake-timeout", "60", nofile=FD_LIMIT) as daemon:
        daemon.wait_for_log("connection limits: max_allowed_incoming_connections=")
        job_id = _done_job(daemon, base, 1 << 20)
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            stub = api_grpc.LinkJobServiceStub(channel)
            expected = _read_all(stub, job_id)
            with idle_flood(daemon.socket, FLOOD):
                # Past the connection cap new connections are closed at once: nothing waits in the
                # backlog of a daemon that ran out of descriptors to accept them.
                _until(lambda: _backlog(daemon.socket) == 0, "the accept queue to drain", bound=20)
                assert len(_fds(daemon.proc.pid)) < FD_LIMIT - 32  # the reserve is kept
                assert _read_all(stub, job_id) == expected  # a blob file can still be opened


def test_an_idle_flood_does_not_lock_out_new_clients(base: Path) -> None:
    with served(base, "--handshake-timeout", "1", nofile=FD_LIMIT) as daemon:
        with idle_flood(daemon.socket, FLOOD):
            # The idle connections are dropped after the handshake timeout; a new client gets in.
            with _fresh_channel(daemon.socket) as fresh:
                info = api_grpc.DaemonServiceStub(fresh).GetDaemonInfo(
                    api.GetDaemonInfoRequest(), timeout=20, wait_for_ready=True
                )
                assert info.version


def test_the_soft_fd_limit_is_raised_to_the_hard_limit_at_start(base: Path) -> None:
    with served(base, nofile=(256, 1024)) as daemon:
        assert resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE) == (1024, 1024)
        daemon.wait_for_log("file descriptor limit raised from 256 to the hard limit 1024")


def test_out_of_file_descriptors_is_resource_exhausted_with_the_limit(base: Path) -> None:
    with served(base) as daemon:
        job_id = _done_job(daemon, base, 256 << 10)
        pid = daemon.proc.pid
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            stub = api_grpc.LinkJobServiceStub(channel)
            expected = _read_all(stub, job_id)
            soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            low = len(_fds(pid)) - 8  # below what it holds: every new open fails with EMFILE
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (low, hard))
            submit = api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(base / "graph.dlc"))], device=DEVICE)
            try:
                with pytest.raises(grpc.RpcError) as failed:
                    _read_all(stub, job_id)  # was INTERNAL: the blob could not be opened
                with pytest.raises(grpc.RpcError) as refused:
                    stub.SubmitLinkJob(submit, timeout=WAIT)  # was INVALID_ARGUMENT: "cannot read model file"
            finally:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            for error in (failed.value, refused.value):
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                assert f"out of file descriptors (limit {low}" in (error.details() or "")
            assert _read_all(stub, job_id) == expected  # fine again once descriptors are back


# -- item 11 -------------------------------------------------------------------------------------


def test_streams_past_the_cap_are_resource_exhausted_with_a_message(base: Path) -> None:
    with served(base, "--max-streams", "3", "--emulator-manual") as daemon:
        model = base / "graph.dlc"
        model.write_bytes(b"G" * 4096)
        with Client(daemon.socket) as client:
            job_id = client.submit_link_job(str(model), DEVICE, name="waited").job_id
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            stub = api_grpc.LinkJobServiceStub(channel)
            waits = [stub.WaitJob(api.WaitJobRequest(job_id=job_id), timeout=WAIT) for _ in range(3)]
            try:
                for wait in waits:
                    assert next(wait).job_id == job_id  # open: its first status arrived
                over = stub.WaitJob(api.WaitJobRequest(job_id=job_id), timeout=WAIT)
                with pytest.raises(grpc.RpcError) as failed:
                    next(over)
                assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, failed.value
                assert "too many open streams" in (failed.value.details() or "")
                waits.pop().cancel()
                _until(lambda: _opens(stub, job_id), "a stream slot after one stream was cancelled")
            finally:
                for wait in waits:
                    wait.cancel()


def _opens(stub: api_grpc.LinkJobServiceStub, job_id: str) -> bool:
    again = stub.WaitJob(api.WaitJobRequest(job_id=job_id), timeout=WAIT)
    try:
        return next(again).job_id == job_id
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return False
    finally:
        again.cancel()


def test_a_never_read_stream_is_ended_and_its_blob_file_closed(base: Path) -> None:
    with served(base, "--stream-write-timeout", "1") as daemon:
        job_id = _done_job(daemon, base, 8 << 20)  # far more than gRPC's flow-control windows hold
        cache = str(daemon.state_dir / "cache" / "blobs")

        def blob_fds() -> int:
            return sum(1 for target in _fds(daemon.proc.pid) if target.startswith(cache))

        assert blob_fds() == 0
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            stream = api_grpc.LinkJobServiceStub(channel).ReadTargetModel(
                api.ReadTargetModelRequest(job_id=job_id),
                timeout=2 * WAIT,  # the client never gives up first
            )
            first = next(stream)  # the stream is open; then nobody reads
            assert first.total_size >= 8 << 20
            assert blob_fds() == 1
            _until(lambda: blob_fds() == 0, "the unread stream's blob file to be closed", bound=20)
            received = len(first.data)
            with pytest.raises(grpc.RpcError) as ended:
                for chunk in stream:
                    received += len(chunk.data)
            assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, ended.value
            assert "took nothing for 1 s" in (ended.value.details() or "")
            assert received < first.total_size


def test_each_client_channel_on_the_socket_has_its_own_stream_cap(base: Path) -> None:
    """gRPC names every Unix-socket peer ``unix:``; the aihubd clients' per-channel id makes each
    its own client for ``--max-streams`` (was: B refused once A held the cap)."""
    with served(base, "--max-streams", "3", "--emulator-manual") as daemon:
        model = base / "graph.dlc"
        model.write_bytes(b"G" * 4096)
        with Client(daemon.socket) as a, Client(daemon.socket) as b:
            job_id = a.submit_link_job(str(model), DEVICE, name="watched").job_id
            watches = [a.watch_jobs([job_id]) for _ in range(4)]
            try:
                for watch in watches[:3]:
                    assert next(watch).kind == "SNAPSHOT"  # open: its listing arrived
                with pytest.raises(ResourceExhaustedError) as failed:
                    next(watches[3])
                assert failed.value.reason == "TOO_MANY_STREAMS"
                theirs = b.watch_jobs([job_id])
                watches.append(theirs)
                assert next(theirs).kind == "SNAPSHOT"  # B's own cap: it gets a stream
                assert f"client {a._connection.client_id} hold 3" in str(failed.value)
            finally:
                for watch in watches:
                    watch.close()


@pytest.mark.parametrize("client_id", ["x" * 65, "not ok!", ""])
def test_a_malformed_client_id_is_invalid_argument_naming_the_key(base: Path, client_id: str) -> None:
    with served(base, "--emulator-manual") as daemon:
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            stub = api_grpc.LinkJobServiceStub(channel)
            metadata = (("aihubd-client-id", client_id),)
            with pytest.raises(grpc.RpcError) as unary:
                stub.GetJob(api.GetJobRequest(job_id="jnosuchjob"), timeout=WAIT, metadata=metadata)
            stream = stub.WaitJob(api.WaitJobRequest(job_id="jnosuchjob"), timeout=WAIT, metadata=metadata)
            with pytest.raises(grpc.RpcError) as streamed:
                next(stream)
            for error in (unary.value, streamed.value):
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                assert "'aihubd-client-id' must be 1 to 64 characters" in (error.details() or "")
