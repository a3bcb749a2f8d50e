"""Clock skew and "a retried submit never creates a second Hub job" (issue 11, item 6).

The Hub's answer to a create is lost (the emulator creates the job, then drops the connection),
and the daemon's wall clock is 10 minutes off the Hub's. Recovery matches what the daemon sent,
bounded by the Hub's own clock (the Date of its answers), so: ahead, the lost job is found (one
Hub job, not two); behind, when the create did not take effect (a 503), an older identical job
that is not this submission's is not taken for it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aihubd.emulator import EmulatorConfig, FaultConfig, HubEmulator
from aihubd.errors import HubUnavailable
from aihubd.hub.client import AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.model import Job
from aihubd.services.submissions import ModelSource, Submitter
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import ArtifactIndex
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.store.submissions import SubmissionJournal
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

SKEW = 600.0  # 10 minutes
LOSE_CREATES = FaultConfig(rate=1.0, kinds=("drop-after-create",), only=("POST /api/v1/jobs/",))
REFUSE_CREATES = FaultConfig(rate=1.0, kinds=("503",), only=("POST /api/v1/jobs/",))  # nothing created


class HubWall:
    """The emulator's wall clock (its jobs' times and its Date headers), set by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Rig:
    emulator: HubEmulator
    hub: AiohttpHubClient
    db: Database
    wall: HubWall
    model_id: str = ""
    device: str = ""

    def submitter(self, daemon_clock: Callable[[], float]) -> Submitter:
        store = JobStore(self.db)
        poller = Poller(self.hub, store, Notifier(), Schedule(Cadence(base=3600, cap=3600)))
        return Submitter(
            self.hub,
            store,
            poller,
            UploadService(self.hub, ArtifactIndex(self.db)),
            SubmissionJournal(self.db, clock=daemon_clock),
            retry=RetryPolicy(attempts=2, base=0.001, cap=0.001),
        )

    async def submit(self, submitter: Submitter, request_id: str) -> Job:
        return await submitter.submit(
            [ModelSource(model_id=self.model_id)], self.device, name="skewed", request_id=request_id
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    wall = HubWall()
    emulator = HubEmulator(EmulatorConfig(manual=True, state_dir=tmp_path / "emu", transfer="url"), clock=wall)
    await emulator.start()
    hub = AiohttpHubClient(
        HubCredentials(emulator.base_url, emulator.base_url, "clock-token"),
        retry=RetryPolicy(attempts=2, base=0.001, cap=0.001),
    )
    db = await Database.open(tmp_path / "aihubd.db")
    rig = Rig(emulator, hub, db, wall)
    dlc = tmp_path / "m.dlc"
    dlc.write_bytes(b"dlc" * 1000)
    rig.model_id = await hub.upload_model(dlc, "m.dlc")
    for device in await hub.list_devices():
        if "framework:qnn" in device.attributes and len(await hub.select_devices(device.name)) == 1:
            rig.device = device.name
            break
    assert rig.device
    try:
        yield rig
    finally:
        await db.close()
        await hub.close()
        await emulator.stop()


async def test_a_daemon_clock_ahead_still_recovers_the_lost_create(rig: Rig) -> None:
    submitter = rig.submitter(lambda: time.time() + SKEW)
    rig.emulator.set_faults(LOSE_CREATES)
    first: Job | None
    try:
        first = await rig.submit(submitter, "req-ahead")
    except HubUnavailable:
        first = None  # the client sees the lost answer and retries with the same request id
    assert rig.emulator.faults()["drop-after-create"] >= 1
    rig.emulator.set_faults(FaultConfig())
    retried = await rig.submit(submitter, "req-ahead")
    assert len(rig.emulator.state.jobs) == 1  # one Hub job, not two
    assert first is None or first.job_id == retried.job_id


async def test_a_daemon_clock_behind_does_not_take_an_older_identical_job(rig: Rig) -> None:
    older = await rig.hub.create_link_job([rig.model_id], (await rig.hub.select_devices(rig.device))[0], "skewed", "")
    rig.wall.now += 300  # five minutes later on the Hub, the same job is submitted through the daemon
    submitter = rig.submitter(lambda: rig.wall.now - SKEW)
    rig.emulator.set_faults(REFUSE_CREATES)
    try:
        job = await rig.submit(submitter, "req-behind")
    except HubUnavailable:  # every create refused: the client retries once the Hub is back
        assert rig.emulator.faults()["503"] >= 1
        rig.emulator.set_faults(FaultConfig())
        job = await rig.submit(submitter, "req-behind")
    assert job.job_id != older  # someone else's job of five minutes ago is not this one
    assert len(rig.emulator.state.jobs) == 2
