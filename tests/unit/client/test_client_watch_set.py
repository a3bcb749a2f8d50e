"""The shared stream's bookkeeping (watch_set), without a daemon: which request each reopen makes,
and which event goes to which waiter."""

from __future__ import annotations

from client_fakes import SLOW_RECONNECT, make_job

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import DaemonUnavailableError, NotFoundError, UserError
from aihubd_client.jobview import JobValues
from aihubd_client.watch_set import MAX_FILTER_IDS, Item, JobFeed, Waiter, WatchSet


def _job(job_id: str, state: int, learned_at: int) -> pb.Job:
    job = make_job(job_id, state)
    job.last_refresh_time.seconds = learned_at
    return job


def _event(kind: int, revision: int, job: pb.Job | None = None) -> pb.JobEvent:
    event = pb.JobEvent(kind=kind, revision=revision, store_id="s1")
    if job is not None:
        event.job.CopyFrom(job)
    return event


class _Waiter(Waiter):
    """A waiter that takes every item of its job's feed as soon as it is woken."""

    def __init__(self, job_id: str, seen: pb.Job) -> None:
        super().__init__(job_id, seen)
        self.got: list[Item] = []

    def wake(self) -> None:
        while (item := self.next_item()) is not None:
            self.got.append(item)


class _Feed(JobFeed):
    __slots__ = ()

    def wake(self) -> None:
        for waiter in self.waiters:
            waiter.wake()


def _waiter(job_id: str, seen: pb.Job) -> tuple[Waiter, list[Item]]:
    waiter = _Waiter(job_id, seen)
    return waiter, waiter.got


def _deliver(watch: WatchSet, event: pb.JobEvent) -> None:
    watch.take(event)


def test_a_wait_on_a_new_job_reopens_from_its_mark_so_no_change_after_its_read_is_missed():
    watch = WatchSet(SLOW_RECONNECT, _Feed)
    first, got_a = _waiter("ja", _job("ja", pb.JOB_STATE_CREATED, 100))
    assert watch.join(first, watch.mark())  # nothing open yet: open, with a listing
    opened = watch.request()
    assert list(opened.job_ids) == ["ja"] and not opened.HasField("since_revision")
    _deliver(watch, _event(pb.JOB_EVENT_KIND_SNAPSHOT, 5, _job("ja", pb.JOB_STATE_CREATED, 100)))
    _deliver(watch, _event(pb.JOB_EVENT_KIND_SNAPSHOT_END, 5))

    mark = watch.mark()  # a second wait notes revision 5, then reads its job jb (GetJob)...
    seen_b = _job("jb", pb.JOB_STATE_CREATED, 101)
    _deliver(watch, _event(pb.JOB_EVENT_KIND_CHANGED, 7, _job("ja", pb.JOB_STATE_LINKING_MODELS, 107)))
    second, got_b = _waiter("jb", seen_b)
    assert watch.join(second, mark) and watch.dirty  # ...and joins after the stream moved on to 7
    reopened = watch.request()
    assert list(reopened.job_ids) == ["ja", "jb"]
    assert reopened.since_revision == 5 and reopened.store_id == "s1"  # from the mark, not from 7

    # The reopened stream repeats what came after 5 (ja's same view again: the wait skips an
    # unchanged status) and brings jb's change at 6, which its first stream never carried.
    _deliver(watch, _event(pb.JOB_EVENT_KIND_CHANGED, 6, _job("jb", pb.JOB_STATE_LINKING_MODELS, 106)))
    _deliver(watch, _event(pb.JOB_EVENT_KIND_CHANGED, 7, _job("ja", pb.JOB_STATE_LINKING_MODELS, 107)))
    _deliver(watch, _event(pb.JOB_EVENT_KIND_CHANGED, 8, _job("jb", pb.JOB_STATE_DONE, 108)))
    created, linking = pb.JOB_STATE_CREATED, pb.JOB_STATE_LINKING_MODELS
    assert [j.status.state for j in got_a if isinstance(j, JobValues)] == [created, linking, linking]
    assert [j.status.state for j in got_b if isinstance(j, JobValues)] == [
        pb.JOB_STATE_LINKING_MODELS,
        pb.JOB_STATE_DONE,
    ]
    _deliver(watch, _event(pb.JOB_EVENT_KIND_CHANGED, 9, _job("ja", pb.JOB_STATE_CREATED, 103)))
    assert len(got_a) == 3  # a view older than the one ja's waiter holds is dropped


def test_a_wait_on_a_job_the_stream_carries_does_not_reopen_and_the_last_to_leave_closes():
    watch = WatchSet(SLOW_RECONNECT, _Feed)
    one, _ = _waiter("ja", _job("ja", pb.JOB_STATE_CREATED, 1))
    two, _ = _waiter("ja", _job("ja", pb.JOB_STATE_CREATED, 1))
    watch.join(one, None)
    watch.request()
    assert not watch.join(two, watch.mark())
    assert not watch.leave(one)
    assert watch.leave(two)  # nobody waits: close the stream


def test_losing_the_stream_resumes_relists_or_fails_every_waiter():
    watch = WatchSet(SLOW_RECONNECT, _Feed)
    waiter, got = _waiter("ja", _job("ja", pb.JOB_STATE_CREATED, 1))
    watch.join(waiter, None)
    watch.request()
    _deliver(watch, _event(pb.JOB_EVENT_KIND_SNAPSHOT_END, 4))
    gone = DaemonUnavailableError("aihubd is restarting", "/run/aihubd.sock")
    assert watch.lost(gone) == SLOW_RECONNECT.first_pause  # a restart: pause, then resume from 4
    assert watch.request().since_revision == 4
    compacted = UserError("revision 4 is older than the daemon's history")
    compacted.reason = "REVISION_COMPACTED"
    assert watch.lost(compacted) == 0.0
    assert not watch.request().HasField("since_revision")  # list again
    _deliver(watch, _event(pb.JOB_EVENT_KIND_UNTRACKED, 9, _job("ja", pb.JOB_STATE_CREATED, 1)))
    assert isinstance(got[-1], NotFoundError) and "untracked" in str(got[-1])
    refused = UserError("bad filter")
    assert watch.lost(refused) is None  # not a lost connection: give up
    watch.fail_all(refused)
    assert got[-1] is refused and not watch.waiting()


def test_past_the_daemons_filter_limit_the_stream_carries_every_job():
    watch = WatchSet(SLOW_RECONNECT, _Feed)
    for i in range(MAX_FILTER_IDS + 1):
        watch.join(_waiter(f"j{i}", _job(f"j{i}", pb.JOB_STATE_CREATED, 1))[0], None)
    assert list(watch.request().job_ids) == []  # no filter: every job (the daemon allows 1000 ids)
    assert not watch.join(_waiter("jlate", _job("jlate", pb.JOB_STATE_CREATED, 1))[0], watch.mark())


def test_what_is_published_after_a_wait_timed_out_is_not_for_it():
    watch = WatchSet(SLOW_RECONNECT)
    waiter = Waiter("ja", _job("ja", pb.JOB_STATE_CREATED, 1))
    watch.join(waiter, None)
    watch.take(_event(pb.JOB_EVENT_KIND_CHANGED, 2, _job("ja", pb.JOB_STATE_LINKING_MODELS, 2)))
    waiter.expire()  # its time is up before it took that item, which came in time: still its
    watch.take(_event(pb.JOB_EVENT_KIND_CHANGED, 3, _job("ja", pb.JOB_STATE_DONE, 3)))
    item = waiter.next_item()
    assert isinstance(item, JobValues) and item.status == "LINKING_MODELS"
    assert waiter.next_item() is None and waiter.expired  # DONE came after the timeout
