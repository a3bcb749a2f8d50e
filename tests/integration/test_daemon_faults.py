"""The daemon under trouble: SIGTERM with open waits, a full disk, a Hub that misbehaves."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import grpc
import pytest
from e2e_support import Daemon, Emulator, hub_env, refresh, start_daemon, stub

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

DEVICE = "Snapdragon 8 Elite QRD"


def _submit(daemon: Daemon, paths: list[Path]) -> str:
    with stub(daemon.socket) as s:
        return s.SubmitLinkJob(
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(p)) for p in paths], device=DEVICE), timeout=30
        ).job_id


def test_sigterm_ends_open_waits_cleanly(emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path]) -> None:
    job_id = _submit(daemon, list(dlcs))
    received: list[list[api.Job]] = [[] for _ in range(3)]
    statuses: list[grpc.StatusCode | None] = [None] * 3
    opened = threading.Barrier(4)

    def wait(i: int) -> None:
        with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
            call = api_grpc.LinkJobServiceStub(channel).WaitJob(api.WaitJobRequest(job_id=job_id), timeout=60)
            first = True
            for msg in call:
                received[i].append(msg)
                if first:
                    opened.wait(30)
                    first = False
            statuses[i] = call.code()

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    opened.wait(30)  # every stream has its first message
    daemon.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert daemon.proc.wait(timeout=30) == 0
    assert statuses == [grpc.StatusCode.OK] * 3
    for msgs in received:
        assert msgs[-1].daemon_shutting_down and msgs[-1].state == api.JOB_STATE_CREATED
    assert not daemon.socket.exists()
    with sqlite3.connect(daemon.state_dir / "aihubd.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_gives_resource_exhausted_and_the_daemon_keeps_serving(
    emulator: Emulator, tmp_path: Path, small_disk: Path
) -> None:
    daemon = start_daemon(
        tmp_path,
        ["--hub-url", emulator.base_url, "--cache-dir", str(small_disk)],
        env=hub_env(tmp_path, emulator),
        extra=["--poll-interval", "3600", "--no-prefetch"],
    )
    try:
        big = [tmp_path / "big_a.dlc", tmp_path / "big_b.dlc"]
        for p in big:
            p.write_bytes(os.urandom(1 << 20))  # incompressible: the linked model is ~2 MiB > 1 MiB disk
        job_id = _submit(daemon, big)
        emulator.advance(job_id)
        emulator.advance(job_id)
        refresh(daemon.socket)
        out = tmp_path / "out"
        out.mkdir()
        with stub(daemon.socket) as s:
            with pytest.raises(grpc.RpcError) as info:
                s.DownloadTargetModel(api.DownloadTargetModelRequest(job_id=job_id, destination=str(out)), timeout=60)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "no space" in info.value.details()
            assert list(out.iterdir()) == []  # nothing partial at the destination
            assert not list((small_disk / "ingest").iterdir())  # nor in the cache
            logs = s.DownloadJobLogs(
                api.DownloadJobLogsRequest(job_id=job_id, output_dir=str(tmp_path / "logs")), timeout=60
            )  # small files still fit: the daemon keeps serving
            assert len(logs.paths) == 2
    finally:
        assert daemon.stop() == 0


def test_errors_carry_error_info_and_retry_info(emulator: Emulator, daemon: Daemon, dlcs: tuple[Path, Path]) -> None:
    """google.rpc details: a reason on every error, RetryInfo where retrying helps; the client
    library turns them back into its exception kinds."""
    from google.rpc import error_details_pb2, status_pb2

    from aihubd_client import Client, HubUnavailableError, NotFoundError

    def details(exc: grpc.RpcError) -> status_pb2.Status:
        raw = dict(exc.trailing_metadata())["grpc-status-details-bin"]
        return status_pb2.Status.FromString(raw)

    with stub(daemon.socket) as s:
        with pytest.raises(grpc.RpcError) as info:
            s.GetJob(api.GetJobRequest(job_id="jnosuchjob"), timeout=30)
        status = details(info.value)
        error_info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(error_info) and error_info.reason == "NOT_FOUND"
        assert len(status.details) == 1  # no RetryInfo: retrying will not help

        emulator.set_faults({"down": True, "retry_after": 1})
        with pytest.raises(grpc.RpcError) as info:
            s.TrackJob(api.TrackJobRequest(job_id="jsomejob"), timeout=60)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        status = details(info.value)
        retry = error_details_pb2.RetryInfo()
        assert status.details[1].Unpack(retry) and retry.retry_delay.seconds == 1

    with Client(daemon.socket) as client:
        with pytest.raises(HubUnavailableError) as hub_down:
            client.track_job("jsomejob")
        assert hub_down.value.reason == "HUB_UNAVAILABLE" and hub_down.value.retry_after == 1
        emulator.set_faults(None)
        with pytest.raises(NotFoundError) as missing:
            client.get_job("jnosuchjob")
        assert missing.value.reason == "NOT_FOUND" and missing.value.retry_after is None
