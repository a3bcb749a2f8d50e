"""The job feed over a real SQLite store and an in-memory Hub: revisions, snapshot, resume,
compaction, filters, bookmarks, slow readers. No timers except the bookmark test's tiny interval,
which is waited for by event with a timeout."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.errors import OutOfRange, ReaderTooSlow, RevisionCompacted
from aihubd.model import Job, JobState
from aihubd.services.feed import FeedEvent, FeedKind, FeedService, WatchFilter
from aihubd.services.jobs import JobService, ShuttingDown
from aihubd.services.sharing import SharingService
from aihubd.services.submissions import ModelSource, Submitter
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import ArtifactIndex
from aihubd.store.database import Database
from aihubd.store.events import EventLog
from aihubd.store.jobs import JobStore
from aihubd.store.submissions import SubmissionJournal
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

EVERYTHING = WatchFilter()


class SharingHub(FakeHub):
    """The fake Hub with renames and sharing."""

    def __init__(self) -> None:
        super().__init__()
        self.shared: dict[str, list[str]] = {}

    async def set_job_name(self, job_id: str, name: str) -> None:
        self.jobs[job_id] = dataclasses.replace(self.jobs[job_id], name=name)

    async def get_sharing(self, job_id: str) -> list[str]:
        return list(self.shared.get(job_id, []))

    async def modify_sharing(self, job_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        emails = [e for e in self.shared.get(job_id, []) if e not in remove]
        self.shared[job_id] = emails + [e for e in add if e not in emails]

    async def disable_sharing(self, job_id: str) -> None:
        self.shared.pop(job_id, None)


class World:
    def __init__(self, db: Database, hub: SharingHub, *, keep: int = 10_000, buffer: int = 1000) -> None:
        self.db, self.hub = db, hub
        self.store = JobStore(db, EventLog(db, keep=keep))
        self.notifier = Notifier()
        self.poller = Poller(hub, self.store, self.notifier, Schedule(Cadence(base=3600, cap=3600)))
        self.jobs = JobService(hub, self.store, self.notifier, self.poller, keepalive=3600)
        self.submitter = Submitter(
            hub, self.store, self.poller, UploadService(hub, ArtifactIndex(db)), SubmissionJournal(db)
        )
        self.sharing = SharingService(hub, self.store)
        self.feed = FeedService(self.store, bookmark_interval=3600, buffer=buffer)

    async def tracked(self, state: JobState = JobState.CREATED, name: str = "n") -> Job:
        return await self.jobs.track(self.hub.add_job(state, name=name).job_id)

    async def move(self, job_id: str, state: JobState) -> None:
        self.hub.set_state(job_id, state)
        assert (await self.poller.poll_now()).changed == 1


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "aihubd.db")
    yield World(db, SharingHub())
    await db.close()


async def _next(stream: AsyncIterator[FeedEvent]) -> FeedEvent:
    return await asyncio.wait_for(anext(stream), 10)


async def _take(stream: AsyncIterator[FeedEvent], count: int) -> list[FeedEvent]:
    return [await _next(stream) for _ in range(count)]


async def _until_snapshot_end(stream: AsyncIterator[FeedEvent]) -> tuple[list[FeedEvent], int]:
    items: list[FeedEvent] = []
    while (event := await _next(stream)).kind == FeedKind.SNAPSHOT:
        items.append(event)
    assert event.kind == FeedKind.SNAPSHOT_END
    return items, event.revision


def _job_states(events: list[FeedEvent]) -> list[tuple[FeedKind, str, JobState]]:
    return [(e.kind, e.job.job_id, e.job.state) for e in events if e.job is not None]


async def test_every_write_path_takes_the_next_revision_in_its_transaction(world: World, tmp_path: Path) -> None:
    dlc = tmp_path / "a.dlc"
    dlc.write_bytes(b"x")
    submitted = await world.submitter.submit([ModelSource(path=str(dlc))], "Snapdragon 8 Elite QRD")
    tracked = await world.tracked(JobState.LINKING_MODELS)
    await world.jobs.track(tracked.job_id)  # tracking it again changes nothing: no event
    await world.jobs.set_name(tracked.job_id, "renamed")
    await world.move(submitted.job_id, JobState.DONE)
    await world.sharing.modify(tracked.job_id, ["a@example.com"], [])
    await world.sharing.disable(tracked.job_id)
    assert await world.jobs.untrack(tracked.job_id)

    history, current, compacted = await world.store.events.read_after(0)
    assert [c.revision for c in history] == list(range(1, current + 1)) and compacted == 0
    assert [(c.kind.name, c.job.job_id, c.changed) for c in history] == [
        ("APPEARED", submitted.job_id, ()),
        ("APPEARED", tracked.job_id, ()),
        ("CHANGED", tracked.job_id, ("name",)),
        ("CHANGED", submitted.job_id, ("state", "last_updated_time", "available_artifacts")),
        ("CHANGED", tracked.job_id, ("sharing",)),
        ("CHANGED", tracked.job_id, ("sharing",)),
        ("UNTRACKED", tracked.job_id, ()),
    ]
    assert history[2].previous_name == "n" and history[2].job.name == "renamed"
    assert history[3].previous_state == JobState.CREATED and history[3].job.state == JobState.DONE
    assert history[-1].job.name == "renamed"  # the untracked job's last known view


async def test_snapshot_then_changes_with_a_racing_change_delivered_once(world: World) -> None:
    a = await world.tracked()
    b = await world.tracked()
    real_snapshot = world.store.snapshot

    async def racing_snapshot() -> tuple[list[Job], int]:
        # After the stream subscribed: one change commits just before the snapshot is read (it is
        # in the snapshot and also offered live) and one just after (only live).
        await world.move(a.job_id, JobState.LINKING_MODELS)
        taken = await real_snapshot()
        await world.move(b.job_id, JobState.FAILED)
        return taken

    world.store.snapshot = racing_snapshot  # type: ignore[method-assign]
    stream = world.feed.watch(EVERYTHING)
    items, at = await _until_snapshot_end(stream)
    assert sorted(_job_states(items)) == sorted(
        [(FeedKind.SNAPSHOT, a.job_id, JobState.LINKING_MODELS), (FeedKind.SNAPSHOT, b.job_id, JobState.CREATED)]
    )
    assert at == 3 and all(e.revision == at for e in items)
    changed = await _next(stream)
    assert (changed.kind, changed.revision, changed.job and changed.job.state) == (FeedKind.CHANGED, 4, JobState.FAILED)

    await world.move(a.job_id, JobState.DONE)  # the next event is this one: a's racing change came once
    after = await _next(stream)
    assert (after.kind, after.revision, after.job and after.job.job_id) == (FeedKind.CHANGED, 5, a.job_id)
    await stream.aclose()


async def test_resume_gets_exactly_the_changes_after_the_revision_across_a_restart(
    world: World, tmp_path: Path
) -> None:
    a = await world.tracked()
    stream = world.feed.watch(EVERYTHING)
    _, at = await _until_snapshot_end(stream)
    await world.move(a.job_id, JobState.LINKING_MODELS)
    last = (await _next(stream)).revision
    await stream.aclose()  # the client goes away here

    await world.move(a.job_id, JobState.DONE)  # missed while disconnected
    b = await world.tracked()
    await world.db.close()

    db = await Database.open(tmp_path / "aihubd.db")  # a restarted daemon
    try:
        restarted = World(db, world.hub)
        await restarted.store.load_in_flight()
        resumed = restarted.feed.watch(EVERYTHING, since=last)
        missed = await _take(resumed, 2)
        assert [(e.kind, e.revision) for e in missed] == [(FeedKind.CHANGED, last + 1), (FeedKind.APPEARED, last + 2)]
        assert missed[0].job is not None and missed[0].job.state == JobState.DONE
        assert missed[1].job is not None and missed[1].job.job_id == b.job_id
        await restarted.move(b.job_id, JobState.DONE)  # live again after the catch-up
        live = await _next(resumed)
        assert (live.kind, live.revision) == (FeedKind.CHANGED, last + 3)
        await resumed.aclose()
        assert at == 1
    finally:
        await db.close()
        world.db = await Database.open(tmp_path / "aihubd.db")


async def test_a_compacted_revision_is_out_of_range_and_says_to_list_again(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        world = World(db, SharingHub(), keep=3)
        job = await world.tracked()  # revision 1
        for i in range(9):  # revisions 2..10
            await world.jobs.set_name(job.job_id, f"name {i}")
        current, compacted = await world.store.events.revisions()
        assert (current, compacted) == (10, 7)
        with pytest.raises(RevisionCompacted, match="list again") as raised:
            await _next(world.feed.watch(EVERYTHING, since=6))
        assert raised.value.metadata == {"current_revision": "10", "compacted_revision": "7"}
        kept = world.feed.watch(EVERYTHING, since=7)  # the oldest revision still resumable
        assert [e.revision for e in await _take(kept, 3)] == [8, 9, 10]
        await kept.aclose()
        with pytest.raises(OutOfRange, match="newer than the daemon's store") as ahead:
            await _next(world.feed.watch(EVERYTHING, since=11))
        assert not isinstance(ahead.value, RevisionCompacted)
        with pytest.raises(OutOfRange, match="newer than the daemon's store"):  # past SQLite's integers
            await _next(world.feed.watch(EVERYTHING, since=2**64 - 1))
        store_id = await world.feed.store_id()
        assert len(store_id) == 16
        same = world.feed.watch(EVERYTHING, since=9, store_id=store_id)
        assert (await _next(same)).revision == 10
        await same.aclose()
        with pytest.raises(OutOfRange, match="its state was replaced"):  # a revision of another database
            await _next(world.feed.watch(EVERYTHING, since=9, store_id="0123456789abcdef"))
    finally:
        await db.close()


async def test_filters_by_id_state_and_name_and_deliver_the_change_that_leaves(world: World) -> None:
    a = await world.tracked(name="resnet-a")
    b = await world.tracked(name="bert-b")
    c = await world.tracked(JobState.LINKING_MODELS, name="resnet-c")

    by_id = world.feed.watch(WatchFilter.checked([a.job_id], [], ""))
    in_flight = world.feed.watch(WatchFilter.checked([], [JobState.CREATED, JobState.LINKING_MODELS], ""))
    by_name = world.feed.watch(WatchFilter.checked([], [], "RESNET"))
    assert {e.job.job_id for e in (await _until_snapshot_end(by_id))[0] if e.job} == {a.job_id}
    assert {e.job.job_id for e in (await _until_snapshot_end(in_flight))[0] if e.job} == {a.job_id, b.job_id, c.job_id}
    assert {e.job.job_id for e in (await _until_snapshot_end(by_name))[0] if e.job} == {a.job_id, c.job_id}

    await world.move(b.job_id, JobState.DONE)  # leaves the state filter: delivered once
    await world.jobs.set_name(b.job_id, "bert-b2")  # outside it now: not delivered
    await world.jobs.set_name(c.job_id, "mobilenet-c")  # leaves the name filter
    await world.jobs.set_name(c.job_id, "mobilenet-c2")  # outside it now
    await world.move(a.job_id, JobState.DONE)

    assert [(e.job.job_id, e.job.state) for e in await _take(by_id, 1) if e.job] == [(a.job_id, JobState.DONE)]
    assert _job_states(await _take(in_flight, 3)) == [
        (FeedKind.CHANGED, b.job_id, JobState.DONE),
        (FeedKind.CHANGED, c.job_id, JobState.LINKING_MODELS),  # renames of a matching job
        (FeedKind.CHANGED, c.job_id, JobState.LINKING_MODELS),
    ]
    assert [(e.job.job_id, e.job.name) for e in await _take(by_name, 2) if e.job] == [
        (c.job_id, "mobilenet-c"),
        (a.job_id, "resnet-a"),
    ]
    # Each next event is a's DONE, so nothing else slipped in between.
    assert _job_states(await _take(in_flight, 1)) == [(FeedKind.CHANGED, a.job_id, JobState.DONE)]
    for stream in (by_id, in_flight, by_name):
        await stream.aclose()


async def test_a_slow_reader_is_cut_off_without_stalling_the_writer_or_another_stream(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        world = World(db, SharingHub(), buffer=5)
        job = await world.tracked()
        slow = world.feed.watch(EVERYTHING)
        fast = world.feed.watch(EVERYTHING)
        _, at = await _until_snapshot_end(slow)
        await _until_snapshot_end(fast)
        fast_seen: list[int] = []
        for i in range(10):  # the writer never waits for a reader: each save returns at once
            await world.jobs.set_name(job.job_id, f"name {i}")
            fast_seen.append((await _next(fast)).revision)
        assert fast_seen == list(range(at + 1, at + 11))
        assert world.feed.streams == 2

        with pytest.raises(ReaderTooSlow, match=f"since_revision={at}") as cut:
            await _next(slow)
        assert cut.value.metadata == {"resume_revision": str(at)}
        assert world.feed.streams == 1
        resumed = world.feed.watch(EVERYTHING, since=cut.value.resume_revision)
        assert [e.revision for e in await _take(resumed, 10)] == fast_seen
        await world.jobs.set_name(job.job_id, "still flowing")
        assert (await _next(fast)).revision == at + 11
        for stream in (fast, resumed):
            await stream.aclose()
    finally:
        await db.close()


async def test_idle_streams_get_bookmarks_with_the_revision_seen_through(world: World) -> None:
    feed = FeedService(world.store, bookmark_interval=0.01)
    watched = await world.tracked()
    other = await world.tracked()
    stream = feed.watch(WatchFilter.checked([watched.job_id], [], ""))
    _, at = await _until_snapshot_end(stream)
    first = await _next(stream)
    assert (first.kind, first.revision) == (FeedKind.BOOKMARK, at)
    await world.move(other.job_id, JobState.DONE)  # filtered out, but the stream has seen it
    while (bookmark := await _next(stream)).revision == at:
        assert bookmark.kind == FeedKind.BOOKMARK
    assert (bookmark.kind, bookmark.revision) == (FeedKind.BOOKMARK, at + 1)
    await stream.aclose()


async def test_shutdown_ends_streams_with_shutting_down(world: World) -> None:
    stream = world.feed.watch(EVERYTHING)
    await _until_snapshot_end(stream)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    world.feed.close()
    with pytest.raises(ShuttingDown):
        await asyncio.wait_for(pending, 10)
    with pytest.raises(ShuttingDown):
        await _next(world.feed.watch(EVERYTHING))


@pytest.mark.parametrize("read", ["snapshot", "read_after", "revisions"])
async def test_a_stream_cancelled_in_its_read_leaves_the_store_writable(world: World, read: str) -> None:
    """A client that reopens its stream at once (the Python client's shared stream does, when a
    wait adds a job) cancels the daemon's read inside ``BEGIN``; the transaction must not stay open."""
    await world.tracked()
    reads = {
        "snapshot": world.store.snapshot,
        "read_after": lambda: world.store.events.read_after(0),
        "revisions": world.store.events.revisions,
    }
    task = asyncio.create_task(reads[read]())
    await asyncio.sleep(0)  # the read runs up to its first wait: SQLite executing BEGIN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job = await asyncio.wait_for(world.tracked(name="after"), 10)  # a write goes through
    assert (await world.store.get(job.job_id)) is not None


async def test_snapshots_share_the_cached_jobs_rather_than_decoding_copies(world: World) -> None:
    """Each stream's listing holds references to the jobs the store keeps in memory: 100 streams
    listing 10,000 jobs must not hold a million decoded copies (the bench's memory row)."""
    tracked = [await world.tracked(name=f"n{i}") for i in range(3)]
    first, _ = await world.store.snapshot()
    second, _ = await world.store.snapshot()
    assert {j.job_id for j in first} == {j.job_id for j in tracked}
    for a, b in zip(first, second, strict=True):
        assert a is b and a is world.store.cached(a.job_id)
