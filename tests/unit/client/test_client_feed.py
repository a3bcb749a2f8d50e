"""``FeedCursor``: where a watch resumes after a lost stream, and when it gives up (no I/O)."""

from __future__ import annotations

import grpc
import pytest

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client.errors import DaemonUnavailableError, ResourceExhaustedError, UserError
from aihubd_client.feed import FeedCursor
from aihubd_client.resume import ReconnectPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cursor(since: int | None = None, relist: bool = True, clock: Clock | None = None) -> FeedCursor:
    return FeedCursor([], None, "", since, relist, ReconnectPolicy(window=10), clock=clock or Clock())


def _event(kind: int, revision: int) -> pb.JobEvent:
    return pb.JobEvent(kind=kind, revision=revision)


def _error(kind: type[UserError] | type[ResourceExhaustedError], reason: str) -> UserError | ResourceExhaustedError:
    error = kind("gone", grpc.StatusCode.OUT_OF_RANGE)
    error.reason = reason
    return error


def _gone() -> DaemonUnavailableError:
    return DaemonUnavailableError("cannot reach the aihubd daemon", "/x.sock")


def test_the_first_request_lists_and_later_ones_resume_after_the_last_revision() -> None:
    cursor = _cursor()
    assert not cursor.call().request.HasField("since_revision")
    assert cursor.take(_event(pb.JOB_EVENT_KIND_SNAPSHOT, 7)) == "SNAPSHOT"
    assert not cursor.call().request.HasField("since_revision")  # a listing cut short lists again
    cursor.take(_event(pb.JOB_EVENT_KIND_SNAPSHOT_END, 7))
    cursor.take(_event(pb.JOB_EVENT_KIND_CHANGED, 8))
    cursor.take(pb.JobEvent(kind=pb.JOB_EVENT_KIND_BOOKMARK, revision=12, store_id="s1"))
    assert cursor.lost(_gone()) > 0
    assert cursor.call().request.since_revision == 12
    assert cursor.call().request.store_id == "s1"  # the daemon refuses a revision of another store


def test_a_given_revision_is_asked_for_at_once_even_zero() -> None:
    assert _cursor(since=0).call().request.since_revision == 0
    assert _cursor(since=0).call().request.HasField("since_revision")
    with pytest.raises(UserError, match="negative"):
        _cursor(since=-1)


def test_a_compacted_revision_lists_again_or_raises() -> None:
    cursor = _cursor(since=5)
    assert cursor.lost(_error(UserError, "REVISION_COMPACTED")) == 0.0
    assert not cursor.call().request.HasField("since_revision")
    strict = _cursor(since=5, relist=False)
    with pytest.raises(UserError):
        strict.lost(_error(UserError, "REVISION_COMPACTED"))


def test_a_slow_reader_resumes_at_once_from_its_revision() -> None:
    cursor = _cursor(since=5)
    cursor.take(_event(pb.JOB_EVENT_KIND_CHANGED, 9))
    assert cursor.lost(_error(ResourceExhaustedError, "WATCH_TOO_SLOW")) == 0.0
    assert cursor.call().request.since_revision == 9
    with pytest.raises(ResourceExhaustedError):  # any other exhaustion is not the feed's to retry
        cursor.lost(_error(ResourceExhaustedError, "LOCAL_RESOURCE_EXHAUSTED"))


def test_a_daemon_never_reached_is_not_waited_for_and_an_outage_ends_after_the_window() -> None:
    with pytest.raises(DaemonUnavailableError):
        _cursor().lost(_gone())
    clock = Clock()
    cursor = _cursor(clock=clock)
    cursor.take(_event(pb.JOB_EVENT_KIND_SNAPSHOT_END, 1))
    assert cursor.lost(_gone()) == pytest.approx(0.1)
    clock.now += 11
    with pytest.raises(DaemonUnavailableError):
        cursor.lost(_gone())
    with pytest.raises(UserError):  # a bad request is raised, never retried
        _cursor().lost(_error(UserError, "INVALID_ARGUMENT"))
