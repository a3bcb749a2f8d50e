"""kill -9 the daemon during an upload and during a delivery, with its state directory full.

The state directory (database and artifact cache) is a real, small filesystem (a tmpfs the test
mounts, so it needs root; skipped otherwise), filled up before each crash; delivery destinations
are on a second small filesystem, so deliveries are copies that can run out of space too. A
fault of the emulator holds the upload's (or the artifact download's) transfer request open
until the daemon is killed in it.

After each restart: the database passes ``PRAGMA integrity_check``; the cache holds no partial
ingest and every blob hashes to its name (and every index row to a blob of its size); no
destination holds a partial file or a temp file; the upload dedup index maps each digest only to
a Hub model holding exactly those bytes; a submit retried under its request id made one Hub job;
the job's state is the Hub's; and once space is back the delivery completes with the Hub's bytes
(DownloadTargetModel, and a ReadTargetModel stream that a kill cut is never a clean short one).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import qai_hub as hub
from disk_support import FILLER, fill, free_bytes
from e2e_support import TEST_TOKEN, Daemon, Emulator, clean_env, start_daemon, start_emulator, stop_process

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

DEVICE = "Snapdragon 8 Elite QRD"
MODEL_BYTES = 1536 << 10  # each of the two inputs; the target model holds about both
STATE_FS = 24 << 20
DEST_FS = 8 << 20
TEMP_PREFIX = ".aihubd-partial-"
GONE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
_FINAL = (api.JOB_STATE_DONE, api.JOB_STATE_FAILED)
FLAGS = ["--poll-interval", "0.2", "--max-poll-interval", "0.5", "--hub-retry-attempts", "1", "--no-prefetch"]


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until true (bounded): the emulator's counters have no push channel."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Rig:
    """The emulator, the daemon's two small filesystems and the official client as the Hub's truth."""

    def __init__(self, tmp_path: Path, emulator: Emulator, state: Path, dest: Path) -> None:
        self.tmp = tmp_path
        self.emulator = emulator
        self.state = state
        self.dest = dest
        self.cache = state / "cache"
        self.env = clean_env(AIHUBD_HUB_TOKEN=TEST_TOKEN, QAIHUB_CLIENT_INI=str(tmp_path / "none.ini"))
        self.official = hub.Client(
            config=hub.ClientConfig(
                api_token=TEST_TOKEN, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
            )
        )
        self.daemon: Daemon | None = None
        self._truths: dict[str, Path] = {}

    def start(self) -> Daemon:
        self.daemon = start_daemon(self.tmp, ["--hub-url", self.emulator.base_url], env=self.env, extra=FLAGS)
        return self.daemon

    @contextlib.contextmanager
    def stub(self) -> Iterator[api_grpc.LinkJobServiceStub]:
        assert self.daemon is not None
        with grpc.insecure_channel(f"unix:{self.daemon.socket}") as channel:
            yield api_grpc.LinkJobServiceStub(channel)

    def kill(self) -> None:
        assert self.daemon is not None
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(30)
        assert self.daemon.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.proc.poll() is None:
            assert self.daemon.stop() == 0
        self.daemon = None

    def hold(self, route: str) -> None:
        """Every ``route`` request waits (far longer than the test) before the emulator serves it."""
        self.emulator.set_faults({"rate": 1.0, "kinds": ["slow"], "slow_seconds": 600, "only": [route]})

    def held(self) -> int:
        return self.emulator.fault_counts().get("slow", 0)

    def hub_jobs_named(self, name: str) -> list[hub.JobSummary]:
        return [j for j in self.official.get_job_summaries(limit=1000, type=hub.JobType.LINK) if j.name == name]

    # -- what must hold after every restart ------------------------------------------------------

    def check_store(self) -> None:
        """Integrity, no partial ingest, every blob its digest, every index row a blob of its size,
        and every upload-index row a Hub model holding exactly the bytes of its digest."""
        with contextlib.closing(sqlite3.connect(self.state / "aihubd.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            indexed = dict(db.execute("SELECT digest, size FROM blobs"))
            uploads = list(db.execute("SELECT sha256, size, model_id FROM uploads"))
        leftovers = list((self.cache / "ingest").iterdir()) if (self.cache / "ingest").exists() else []
        assert not leftovers, f"partial ingests survived a restart: {leftovers}"
        blobs = self.cache / "blobs" / "sha256"
        on_disk = {p.name: p for p in blobs.iterdir()} if blobs.exists() else {}
        for name, path in on_disk.items():
            assert sha256(path) == name, f"the cache holds a blob that is not its digest: {path}"
        for digest, size in indexed.items():
            assert digest in on_disk and on_disk[digest].stat().st_size == size, f"index row {digest} has no blob"
        for digest, size, model_id in uploads:
            copy = Path(self.official.get_model(model_id).download(str(self.tmp / f"hub-{model_id}")))
            assert (sha256(copy), copy.stat().st_size) == (digest, size), f"dedup index: {model_id} is not {digest}"
            copy.unlink()

    def check_destinations(self) -> None:
        """Every file at a destination is a whole target model of a finished job; no temp file."""
        for path in self.dest.iterdir():
            if path.name == FILLER:
                continue
            assert not path.name.startswith(TEMP_PREFIX), f"a delivery temp file was left: {path}"
            assert sha256(path) == sha256(self.truth(path.name.split(".")[0])), f"a partial file at {path}"

    def check_job(self, job_id: str) -> None:
        """The daemon says what the Hub says about the job (after a refresh: no stale belief)."""
        with self.stub() as stub:
            stub.RefreshJobs(api.RefreshJobsRequest(), timeout=60)
            state = stub.GetJob(api.GetJobRequest(job_id=job_id), timeout=60).state
        status = self.official.get_job(job_id).get_status()
        hub_state = (api.JOB_STATE_DONE if status.success else api.JOB_STATE_FAILED) if status.finished else None
        assert state == hub_state or (hub_state is None and state not in _FINAL), (job_id, state, status)

    def truth(self, job_id: str) -> Path:
        """The job's target model as the Hub serves it (downloaded once, by the official client)."""
        if job_id not in self._truths:
            target = self.official.get_job(job_id).get_target_model()
            self._truths[job_id] = Path(target.download(str(self.tmp / f"truth-{job_id}")))
        return self._truths[job_id]


@pytest.fixture
def rig(tmp_path: Path, small_fs: Callable[[str, int], Path]) -> Iterator[Rig]:
    state = small_fs("state", STATE_FS)
    dest = small_fs("dest", DEST_FS)
    emulator = start_emulator(tmp_path, "--link-seconds", "0.3", "--transfer", "url")
    the_rig = Rig(tmp_path, emulator, state, dest)
    try:
        yield the_rig
    finally:
        if the_rig.daemon is not None and the_rig.daemon.proc.poll() is None:
            the_rig.daemon.proc.kill()
            the_rig.daemon.proc.wait()
        stop_process(emulator.proc)


def _call_in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException | object]]:
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except grpc.RpcError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _cut_off(outcome: list[BaseException | object]) -> None:
    assert len(outcome) == 1 and isinstance(outcome[0], grpc.RpcError), outcome
    assert outcome[0].code() in GONE, outcome[0]


@pytest.mark.timeout(600)
def test_kill_during_upload_with_the_state_dir_full(rig: Rig) -> None:
    models = [rig.tmp / "upload_a.dlc", rig.tmp / "upload_b.dlc"]
    for i, path in enumerate(models):
        path.write_bytes(bytes([i]) * 16 + os.urandom(MODEL_BYTES))
    request = api.SubmitLinkJobRequest(
        models=[api.ModelInput(path=str(p)) for p in models], device=DEVICE, name="full-upload", request_id="req-full-1"
    )
    rig.start()
    filler = fill(rig.state)
    rig.hold("PUT /blobs/{blob_key}")
    with rig.stub() as stub:
        thread, outcome = _call_in_thread(lambda: stub.SubmitLinkJob(request, timeout=120))
        wait_for(lambda: rig.held() >= 1, "the daemon's upload to reach the Hub")
        rig.kill()  # mid-upload, the state dir full
        thread.join(30)
    _cut_off(outcome)
    rig.emulator.set_faults(None)

    rig.start()  # with the disk still full
    rig.check_store()
    with rig.stub() as stub:  # no room to record the upload or journal the request: refused cleanly
        with pytest.raises(grpc.RpcError) as refused:
            stub.SubmitLinkJob(request, timeout=120)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
    assert "no space left for the daemon's database" in (refused.value.details() or ""), refused.value.details()
    assert rig.hub_jobs_named("full-upload") == []
    rig.kill()  # and once more, still full
    rig.start()
    rig.check_store()

    filler.unlink()  # space is back
    with rig.stub() as stub:
        job = stub.SubmitLinkJob(request, timeout=120)
        again = stub.SubmitLinkJob(request, timeout=120)  # a client retrying its request id
        assert again.job_id == job.job_id
        final = [m.state for m in stub.WaitJob(api.WaitJobRequest(job_id=job.job_id), timeout=120)][-1]
    rig.check_store()
    assert [j.job_id for j in rig.hub_jobs_named("full-upload")] == [job.job_id]  # one Hub job
    truth = rig.official.get_job(job.job_id).get_status()
    assert truth.success and final == api.JOB_STATE_DONE
    rig.kill()  # the job's state survives a kill as the Hub has it
    rig.start()
    rig.check_job(job.job_id)
    rig.stop()
    fill(rig.state)  # a clean stop gave its lock file's block back: now a start has no room at all
    with pytest.raises(RuntimeError, match="no space left on the filesystem holding the state dir"):
        rig.start()  # it exits at once with one clear line (the log), never serving without room


def _submit_done(rig: Rig, name: str) -> str:
    models = [rig.tmp / f"{name}_a.dlc", rig.tmp / f"{name}_b.dlc"]
    for i, path in enumerate(models):
        path.write_bytes(bytes([i + 2]) * 16 + os.urandom(MODEL_BYTES))
    with rig.stub() as stub:
        job = stub.SubmitLinkJob(
            api.SubmitLinkJobRequest(
                models=[api.ModelInput(path=str(p)) for p in models], device=DEVICE, name=name, request_id=f"req-{name}"
            ),
            timeout=120,
        )
        states = [m.state for m in stub.WaitJob(api.WaitJobRequest(job_id=job.job_id), timeout=120)]
    assert states[-1] == api.JOB_STATE_DONE
    return job.job_id


def _download(stub: api_grpc.LinkJobServiceStub, job_id: str, destination: Path) -> api.DownloadResponse:
    return stub.DownloadTargetModel(
        api.DownloadTargetModelRequest(job_id=job_id, destination=str(destination)), timeout=120
    )


@pytest.mark.timeout(600)
def test_kill_during_delivery_with_the_state_dir_full(rig: Rig) -> None:
    rig.start()
    job_id = _submit_done(rig, "full-delivery")
    truth = rig.truth(job_id)
    size = truth.stat().st_size
    out = rig.dest / f"{job_id}.bin"

    # 1. No room in the cache for the artifact: refused, no partial ingest or blob, nothing delivered.
    filler = fill(rig.state, leave=size // 2)
    with rig.stub() as stub:
        with pytest.raises(grpc.RpcError) as refused:
            _download(stub, job_id, out)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
    assert "no space left" in (refused.value.details() or "") and "artifact cache" in refused.value.details()
    assert not out.exists()
    rig.check_destinations()

    # 2. Killed while the artifact download is in flight (cache still full): nothing half-written stays.
    rig.hold("GET /blobs/{blob_key}")
    with rig.stub() as stub:
        thread, outcome = _call_in_thread(lambda: _download(stub, job_id, out))
        wait_for(lambda: rig.held() >= 1, "the daemon's artifact download to reach the Hub")
        rig.kill()
        thread.join(30)
    _cut_off(outcome)
    rig.emulator.set_faults(None)
    rig.start()
    rig.check_store()
    rig.check_destinations()
    rig.check_job(job_id)

    # 3. Space for the cache, none at the destination (a copy: another filesystem): refused whole.
    filler.unlink()
    dest_filler = fill(rig.dest, leave=size // 2)
    with rig.stub() as stub:
        with pytest.raises(grpc.RpcError) as refused:
            _download(stub, job_id, out)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
    assert f"no space left on the device holding {rig.dest}" in (refused.value.details() or "")
    rig.check_destinations()
    assert not out.exists()

    # 4. A ReadTargetModel stream cut by a kill ends in an error, never as a clean short model.
    filler = fill(rig.state)
    with rig.stub() as stub:
        stream = stub.ReadTargetModel(api.ReadTargetModelRequest(job_id=job_id), timeout=120)
        received = bytearray()
        first = next(stream)
        received += first.data
        rig.kill()
        try:
            for chunk in stream:
                received += chunk.data
        except grpc.RpcError as exc:
            assert exc.code() in GONE, exc
        else:  # the whole model was in flight before the kill: then it is all of it
            assert hashlib.sha256(received).hexdigest() == sha256(truth)
    rig.start()  # the state dir still full
    rig.check_store()
    rig.check_destinations()
    rig.check_job(job_id)

    # 5. Space is back: the delivery completes, whole, both ways.
    filler.unlink()
    dest_filler.unlink()
    with rig.stub() as stub:
        delivered = Path(_download(stub, job_id, out).paths[0])
        streamed = b"".join(
            c.data for c in stub.ReadTargetModel(api.ReadTargetModelRequest(job_id=job_id), timeout=120)
        )
    assert sha256(delivered) == sha256(truth) and hashlib.sha256(streamed).hexdigest() == sha256(truth)
    rig.check_store()
    rig.check_destinations()

    # 6. Killed, then a last sqlite3 reader closed the database (removing its WAL files), and the
    # disk filled up: the next start cannot even open the database. It says so, and exits.
    rig.kill()
    with contextlib.closing(sqlite3.connect(rig.state / "aihubd.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    fill(rig.state)
    assert free_bytes(rig.state) == 0
    with pytest.raises(RuntimeError, match="no space left for the database"):
        rig.start()
