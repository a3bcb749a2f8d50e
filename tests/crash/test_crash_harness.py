"""kill -9 the daemon at random points of a mixed workload, 50 times; nothing is lost or doubled.

Each round starts the daemon on the same socket and state, runs submitters (with request ids,
retried after a crash), waiters and downloaders against it, and SIGKILLs it after a random
delay. After each kill: the database passes ``PRAGMA integrity_check``, no destination file is
partial, every acknowledged submission is in the store, and every delivery temp file left behind
is in the delivery journal. The window between creating a delivery temp file and renaming it is
too brief for random kills to hit reliably, so after each kill the harness also plants what such
a kill leaves (the temp file and its journal entry): the next start must remove it, and never an
unjournaled look-alike. After the last restart every job converges to the emulator's truth, each
request id made exactly one Hub job, and no delivery temp file is left anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import threading
import uuid
from pathlib import Path

import grpc
import pytest
import qai_hub as hub
from e2e_support import TEST_TOKEN, Daemon, clean_env, start_daemon, start_emulator, stop_process

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

DEVICE = "Snapdragon 8 Elite QRD"
ROUNDS = 50
REQUESTS = 40
SEED = 20261124
TEMP_PREFIX = ".aihubd-partial-"


class Workload:
    """Submissions by request id, and downloads to destination paths, across daemon lives."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.requests: dict[str, list[Path]] = {}
        self.acked: dict[str, str] = {}  # request id -> job id the daemon acknowledged
        self.out = root / "out"
        self.out.mkdir()
        self.bystander = self.out / f"{TEMP_PREFIX}not-journaled"  # looks like a temp file, is not ours
        self.bystander.write_bytes(b"keep me")
        for i in range(REQUESTS):
            pair = [root / f"r{i}_a.dlc", root / f"r{i}_b.dlc"]
            pair[0].write_bytes(b"common" * 2000 + rng.randbytes(512))
            pair[1].write_bytes(b"" if i % 8 == 0 else rng.randbytes(2048))  # every 8th link fails
            self.requests[f"req-{i:03d}-{uuid.UUID(int=rng.getrandbits(128))}"] = pair

    def run_round(self, socket: Path, stop: threading.Event) -> None:
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            stub = api_grpc.LinkJobServiceStub(channel)
            todo = [r for r in self.requests if r not in self.acked]
            self.rng.shuffle(todo)
            threads = [threading.Thread(target=self._submit, args=(stub, todo[i::3], stop)) for i in range(3)]
            threads += [threading.Thread(target=self._download, args=(stub, stop)) for _ in range(2)]
            threads += [threading.Thread(target=self._wait, args=(stub, stop))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)

    def _submit(self, stub: api_grpc.LinkJobServiceStub, requests: list[str], stop: threading.Event) -> None:
        for request_id in requests:
            if stop.is_set():
                return
            request = api.SubmitLinkJobRequest(
                models=[api.ModelInput(path=str(p)) for p in self.requests[request_id]],
                device=DEVICE,
                request_id=request_id,
            )
            try:
                self.acked[request_id] = stub.SubmitLinkJob(request, timeout=20).job_id
            except grpc.RpcError as exc:
                assert exc.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ), exc
                return

    def _download(self, stub: api_grpc.LinkJobServiceStub, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.acked:
                stop.wait(0.05)
                continue
            job_id = self.rng.choice(list(self.acked.values()))
            try:
                stub.DownloadTargetModel(
                    api.DownloadTargetModelRequest(job_id=job_id, destination=str(self.out / job_id)), timeout=20
                )
            except grpc.RpcError as exc:
                assert exc.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ), exc
                return

    def _wait(self, stub: api_grpc.LinkJobServiceStub, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.acked:
                stop.wait(0.05)
                continue
            try:
                for _ in stub.WaitJob(
                    api.WaitJobRequest(job_id=self.rng.choice(list(self.acked.values()))), timeout=20
                ):
                    pass
            except grpc.RpcError as exc:
                assert exc.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ), exc
                return


def _check_after_kill(daemon: Daemon, workload: Workload) -> None:
    with sqlite3.connect(daemon.state_dir / "aihubd.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT job_id FROM jobs")}
        journal = dict(db.execute("SELECT request_id, job_id FROM submissions WHERE job_id IS NOT NULL"))
        pending = {os.fsdecode(row[0]) for row in db.execute("SELECT temp_path FROM pending_deliveries")}
    for request_id, job_id in workload.acked.items():
        assert job_id in stored, f"acknowledged job {job_id} is missing from the store"
        assert journal.get(request_id) == job_id
    # A kill mid-delivery may leave its hidden temp file, but only one journaled before it was
    # created: the next start removes it.
    for temp in workload.out.iterdir():
        if temp.name.startswith(TEMP_PREFIX) and temp != workload.bystander:
            assert str(temp) in pending, f"{temp} was left behind without a delivery journal entry"


def _plant_cut_short_delivery(daemon: Daemon, workload: Workload, number: int) -> Path:
    """What a kill between creating a delivery temp file and renaming it leaves behind."""
    temp = workload.out / f"{TEMP_PREFIX}planted-{number:02d}"
    temp.write_bytes(b"half a model")
    with contextlib.closing(sqlite3.connect(daemon.state_dir / "aihubd.db")) as db, db:
        db.execute("INSERT INTO pending_deliveries (temp_path, started_at) VALUES (?, 0)", (os.fsencode(temp),))
    return temp


@pytest.mark.timeout(900)
def test_fifty_kills_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    emulator = start_emulator(tmp_path, "--link-seconds", "0.4")
    workload = Workload(tmp_path, rng)
    env = clean_env(AIHUBD_HUB_TOKEN=TEST_TOKEN, QAIHUB_CLIENT_INI=str(tmp_path / "none.ini"))
    args = ["--hub-url", emulator.base_url, "--hub-rate", "1000"]
    planted: Path | None = None
    try:
        for number in range(ROUNDS):
            daemon = start_daemon(
                tmp_path, args, env=env, extra=["--poll-interval", "0.2", "--max-poll-interval", "0.5"]
            )
            assert planted is None or not planted.exists(), f"the start-up kept {planted}"
            assert workload.bystander.read_bytes() == b"keep me"
            stop = threading.Event()
            killer = threading.Timer(rng.uniform(0.05, 0.8), lambda d=daemon: d.proc.send_signal(signal.SIGKILL))
            killer.start()
            workload.run_round(daemon.socket, stop)
            killer.join()
            stop.set()
            daemon.proc.wait(30)
            assert daemon.proc.returncode == -signal.SIGKILL
            _check_after_kill(daemon, workload)
            planted = _plant_cut_short_delivery(daemon, workload, number)

        daemon = start_daemon(tmp_path, args, env=env, extra=["--poll-interval", "0.2", "--max-poll-interval", "0.5"])
        try:
            with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
                stub = api_grpc.LinkJobServiceStub(channel)
                for request_id, pair in workload.requests.items():  # finish what never got an answer
                    if request_id not in workload.acked:
                        workload.acked[request_id] = stub.SubmitLinkJob(
                            api.SubmitLinkJobRequest(
                                models=[api.ModelInput(path=str(p)) for p in pair], device=DEVICE, request_id=request_id
                            ),
                            timeout=60,
                        ).job_id
                finals = {}
                for job_id in workload.acked.values():
                    for msg in stub.WaitJob(api.WaitJobRequest(job_id=job_id), timeout=120):
                        finals[job_id] = msg.state
                good = {}
                for job_id, state in finals.items():
                    if state == api.JOB_STATE_DONE:
                        out = tmp_path / "final" / job_id
                        out.mkdir(parents=True)
                        path = stub.DownloadTargetModel(
                            api.DownloadTargetModelRequest(job_id=job_id, destination=str(out)), timeout=60
                        ).paths[0]
                        good[job_id] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        finally:
            assert daemon.stop() == 0

        official = hub.Client(
            config=hub.ClientConfig(
                api_token=TEST_TOKEN, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
            )
        )
        hub_jobs = official.get_job_summaries(limit=1000, type=hub.JobType.LINK)
        assert len(hub_jobs) == REQUESTS  # each request id made exactly one Hub job
        assert {j.job_id for j in hub_jobs} == set(workload.acked.values())
        for job_id, state in finals.items():  # every job converged to the emulator's truth
            truth = official.get_job(job_id).get_status()
            assert state == (api.JOB_STATE_DONE if truth.success else api.JOB_STATE_FAILED)
        assert sum(1 for s in finals.values() if s == api.JOB_STATE_FAILED) == REQUESTS // 8
        # Whatever a killed daemon left at a destination path is whole (never partial).
        delivered = [p for p in workload.out.iterdir() if not p.name.startswith(".")]
        for path in delivered:
            job_id = path.name.removesuffix(".bin")
            assert hashlib.sha256(path.read_bytes()).hexdigest() == good[job_id], path
        assert delivered, "the workload never delivered a file: the harness did not test downloads"
        # Temp files that kills left mid-delivery were removed by the next start, and every
        # journal entry is settled.
        leftovers = [p for p in workload.out.iterdir() if p.name.startswith(TEMP_PREFIX) and p != workload.bystander]
        assert not leftovers, f"{len(leftovers)} temp files survived a restart: {leftovers[:3]}"
        assert workload.bystander.read_bytes() == b"keep me"
        with contextlib.closing(sqlite3.connect(daemon.state_dir / "aihubd.db")) as db:
            assert db.execute("SELECT COUNT(*) FROM pending_deliveries").fetchone()[0] == 0
    finally:
        stop_process(emulator.proc)
