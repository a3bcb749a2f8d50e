"""WatchJobs end to end: a real daemon subprocess on the emulator, restarted (SIGTERM) and killed
(SIGKILL) under a watcher that must see every revision exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
import qai_hub as hub
from e2e_support import HUB_DAEMON_FLAGS, TEST_TOKEN, Daemon, Emulator, refresh, start_daemon, stub, token_env
from google.rpc import error_details_pb2, status_pb2

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc
from aihubd_client import AihubdError, AsyncClient, Client, UserError
from aihubd_client.feed import JobEvent
from aihubd_client.resume import ReconnectPolicy

DEVICE = "Snapdragon 8 Elite QRD"
WAIT = 60.0
# Bookmarks every 0.2 s: a watcher thread wakes up often enough to notice it should stop.
FAST_BOOKMARKS = ["--feed-bookmark-interval", "0.2"]
CHANGES = ("APPEARED", "CHANGED", "UNTRACKED")


def _daemon(base: Path, emulator: Emulator, *extra: str) -> Daemon:
    return start_daemon(
        base, ["--hub-url", emulator.base_url], env=token_env(base), extra=[*HUB_DAEMON_FLAGS, *FAST_BOOKMARKS, *extra]
    )


class Watcher(threading.Thread):
    """Runs ``Client.watch_jobs`` and records every event; ``wait_for`` blocks on a condition."""

    def __init__(self, socket: Path, **watch: Any) -> None:
        super().__init__(daemon=True)
        self._socket = socket
        self._watch = watch
        self.events: list[JobEvent[Any]] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            with Client(self._socket, reconnect=ReconnectPolicy(window=120)) as client:
                for event in client.watch_jobs(bookmarks=True, **self._watch):
                    with self._changed:
                        self.events.append(event)
                        self._changed.notify_all()
                    if self._stopping.is_set():
                        return
        except BaseException as exc:  # surfaced by the test
            with self._changed:
                self.error = exc
                self._changed.notify_all()

    def wait_for(self, what: str, predicate: Callable[[list[JobEvent[Any]]], bool]) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.error is not None or predicate(self.events), WAIT):
                raise AssertionError(f"the watcher never saw {what}; it saw {self.summary()}")
        assert self.error is None, self.error

    def saw(self, kind: str, job_id: str, status: str | None = None) -> Callable[[list[JobEvent[Any]]], bool]:
        def check(events: list[JobEvent[Any]]) -> bool:
            return any(
                e.kind == kind
                and e.job is not None
                and e.job.job_id == job_id
                and (status is None or e.job.last_status.code == status)
                for e in events
            )

        return check

    def changes(self) -> list[JobEvent[Any]]:
        with self._changed:
            return [e for e in self.events if e.kind in CHANGES]

    def summary(self) -> list[tuple[str, int]]:
        return [(e.kind, e.revision) for e in self.events if e.kind != "BOOKMARK"]

    def stop(self) -> None:
        self._stopping.set()
        self.join(WAIT)
        assert not self.is_alive()


@contextmanager
def watching(socket: Path, **watch: Any) -> Iterator[Watcher]:
    watcher = Watcher(socket, **watch)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()


def _snapshot_end(events: list[JobEvent[Any]]) -> bool:
    return any(e.kind == "SNAPSHOT_END" for e in events)


def _consecutive_after_snapshot(watcher: Watcher) -> list[int]:
    """The change revisions; each must follow the last (every revision once, none skipped)."""
    ends = [e for e in watcher.events if e.kind == "SNAPSHOT_END"]
    assert len(ends) == 1, watcher.summary()  # never listed again: every resume was exact
    revisions = [e.revision for e in watcher.changes()]
    assert revisions == list(range(ends[0].revision + 1, ends[0].revision + 1 + len(revisions))), revisions
    return revisions


def test_the_feed_lists_then_follows_and_resumes_across_a_restart_and_a_kill(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    daemon = _daemon(tmp_path, emulator)
    try:
        with Client(daemon.socket) as client:
            first = client.submit_link_job(list(dlcs), DEVICE, name="first")
        with watching(daemon.socket) as watcher:
            watcher.wait_for("the snapshot", _snapshot_end)
            assert [e.job.job_id for e in watcher.events if e.kind == "SNAPSHOT"] == [first.job_id]
            with Client(daemon.socket) as client:
                second = client.submit_link_job(list(dlcs), DEVICE, name="second")
            watcher.wait_for("the second job appear", watcher.saw("APPEARED", second.job_id))
            emulator.advance(first.job_id)
            refresh(daemon.socket)
            watcher.wait_for("first linking", watcher.saw("CHANGED", first.job_id, "LINKING_MODELS"))

            daemon.stop()  # a clean restart; the job finishes on the Hub meanwhile
            emulator.advance(first.job_id)
            daemon = _daemon(tmp_path, emulator)
            refresh(daemon.socket)
            watcher.wait_for("first done", watcher.saw("CHANGED", first.job_id, "SUCCESS"))

            daemon.proc.kill()  # kill -9: no shutdown at all
            daemon.proc.wait()
            emulator.advance(second.job_id)
            daemon = _daemon(tmp_path, emulator)
            refresh(daemon.socket)
            watcher.wait_for("second linking", watcher.saw("CHANGED", second.job_id, "LINKING_MODELS"))
            with Client(daemon.socket) as client:
                client.get_job(second.job_id).set_name("renamed")
            watcher.wait_for("the rename", lambda events: any(e.changed == ("name",) for e in events))
        assert len(_consecutive_after_snapshot(watcher)) == 5
        assert len({e.store_id for e in watcher.events}) == 1 and watcher.events[0].store_id  # one store
    finally:
        daemon.stop()


def test_every_revision_exactly_once_across_a_kill_under_a_stream_of_changes(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    """The `make bench` row "WatchJobs resume", small: renames as fast as the daemon takes them,
    a kill -9 in the middle, and a watcher that resumes from its last revision."""
    daemon = _daemon(tmp_path, emulator)
    renaming = threading.Event()
    renaming.set()
    renames = 0

    def rename_forever(job_id: str) -> None:
        nonlocal renames
        with Client(daemon.socket) as client:
            job = client.get_job(job_id)
            while renaming.is_set():
                try:
                    job.set_name(f"name {renames}")
                    renames += 1
                except AihubdError:  # the daemon is down for a moment
                    time.sleep(0.01)

    try:
        with Client(daemon.socket) as client:
            job = client.submit_link_job(list(dlcs), DEVICE, name="busy")
        with watching(daemon.socket) as watcher:
            watcher.wait_for("the snapshot", _snapshot_end)
            renamer = threading.Thread(target=rename_forever, args=(job.job_id,), daemon=True)
            renamer.start()
            watcher.wait_for("30 renames", lambda events: sum(e.kind == "CHANGED" for e in events) >= 30)
            daemon.proc.kill()
            daemon.proc.wait()
            daemon = _daemon(tmp_path, emulator)
            seen_before = len(watcher.changes())
            watcher.wait_for("30 more", lambda events: sum(e.kind == "CHANGED" for e in events) >= seen_before + 30)
            renaming.clear()
            renamer.join(WAIT)
            with Client(daemon.socket) as client:
                latest = next(e.revision for e in client.watch_jobs() if e.kind == "SNAPSHOT_END")
            watcher.wait_for(f"revision {latest}", lambda events: any(e.revision >= latest for e in events))
        revisions = _consecutive_after_snapshot(watcher)
        assert revisions[-1] == latest and len(revisions) >= 60
    finally:
        renaming.clear()
        daemon.stop()


def _status(exc: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo]:
    raw = dict(exc.trailing_metadata())["grpc-status-details-bin"]  # type: ignore[attr-defined]
    info = error_details_pb2.ErrorInfo()
    assert status_pb2.Status.FromString(raw).details[0].Unpack(info)
    return exc.code(), info  # type: ignore[attr-defined]


def test_a_compacted_revision_is_out_of_range_and_the_client_lists_again(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    daemon = _daemon(tmp_path, emulator, "--feed-history", "2")
    try:
        with Client(daemon.socket) as client:
            job = client.submit_link_job(list(dlcs), DEVICE, name="n")  # revision 1
            for i in range(4):  # revisions 2..5; the daemon keeps 4 and 5
                job.set_name(f"name {i}")
        with stub(daemon.socket) as s:
            with pytest.raises(grpc.RpcError) as compacted:
                list(s.WatchJobs(api.WatchJobsRequest(since_revision=2), timeout=30))
            code, info = _status(compacted.value)
            assert (code, info.reason) == (grpc.StatusCode.OUT_OF_RANGE, "REVISION_COMPACTED")
            assert dict(info.metadata) == {"current_revision": "5", "compacted_revision": "3"}
            assert "list again" in compacted.value.details()  # type: ignore[attr-defined]
            with pytest.raises(grpc.RpcError) as ahead:
                list(s.WatchJobs(api.WatchJobsRequest(since_revision=99), timeout=30))
            assert _status(ahead.value)[1].reason == "REVISION_UNKNOWN"
            with pytest.raises(grpc.RpcError) as replaced:
                list(s.WatchJobs(api.WatchJobsRequest(since_revision=3, store_id="another store"), timeout=30))
            assert _status(replaced.value)[1].reason == "REVISION_UNKNOWN"
            with pytest.raises(grpc.RpcError) as bad:
                list(s.WatchJobs(api.WatchJobsRequest(job_ids=["not a job id"]), timeout=30))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
            kept = s.WatchJobs(api.WatchJobsRequest(since_revision=3), timeout=30)
            assert [next(kept).revision for _ in range(2)] == [4, 5]
            kept.cancel()

        with Client(daemon.socket) as client:
            with pytest.raises(UserError, match="list again") as raised:
                next(iter(client.watch_jobs(since_revision=1, relist=False)))
            assert raised.value.reason == "REVISION_COMPACTED"
            relisted = client.watch_jobs(since_revision=1)
            snapshot = next(relisted)
            assert (snapshot.kind, snapshot.revision, snapshot.job.name) == ("SNAPSHOT", 5, "name 3")
            end = next(relisted)
            assert (end.kind, end.revision) == ("SNAPSHOT_END", 5)
            relisted.close()
    finally:
        daemon.stop()


async def test_the_async_client_resumes_after_a_restart_without_listing_again(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    daemon = _daemon(tmp_path, emulator)
    try:
        async with AsyncClient(daemon.socket, reconnect=ReconnectPolicy(window=120)) as client:
            job = await client.submit_link_job(list(dlcs), DEVICE, name="async")
            feed = client.watch_jobs(job_ids=[job.job_id])
            kinds = [(await anext(feed)).kind, (await anext(feed)).kind]
            assert kinds == ["SNAPSHOT", "SNAPSHOT_END"]
            await asyncio.to_thread(daemon.stop)
            emulator.advance(job.job_id)
            daemon = await asyncio.to_thread(_daemon, tmp_path, emulator)
            await asyncio.to_thread(refresh, daemon.socket)
            changed = await asyncio.wait_for(anext(feed), WAIT)
            assert (changed.kind, changed.revision, changed.changed[0]) == ("CHANGED", 2, "state")
            assert changed.job is not None and changed.job.last_status.code == "LINKING_MODELS"
            await feed.aclose()  # type: ignore[attr-defined]
    finally:
        daemon.stop()


def test_a_reader_that_stops_reading_is_cut_off_while_another_stream_flows(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    """Over real gRPC flow control: the stalled stream's messages pile up only to the transport's
    window, then its buffer of 5 overflows; the writer and the other stream never wait for it."""
    daemon = _daemon(tmp_path, emulator, "--feed-stream-buffer", "5")
    renames = 1000
    try:
        with Client(daemon.socket) as client:
            job = client.submit_link_job(list(dlcs), DEVICE, name="n")
        # No BDP probing: the slow client's receive window stays at HTTP/2's initial 64 KiB.
        options = [("grpc.http2.bdp_probe", 0)]
        with (
            grpc.insecure_channel(f"unix:{daemon.socket}", options=options) as channel,
            watching(daemon.socket) as fast,
        ):
            slow = api_grpc.LinkJobServiceStub(channel).WatchJobs(api.WatchJobsRequest(), timeout=60)
            while next(slow).kind != api.JOB_EVENT_KIND_SNAPSHOT_END:
                pass
            fast.wait_for("the snapshot", _snapshot_end)
            with Client(daemon.socket) as client:
                renamed = client.get_job(job.job_id)
                for i in range(renames):
                    renamed.set_name(f"name {i}")
            # The watchers nudged a poll, which may have seen the job's state move too: count renames.
            fast.wait_for("every rename", lambda events: sum("name" in e.changed for e in events) == renames)
            received: list[int] = []
            with pytest.raises(grpc.RpcError) as cut:
                for event in slow:
                    received.append(event.revision)
            code, info = _status(cut.value)
            assert (code, info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCH_TOO_SLOW")
            assert received == list(range(2, 2 + len(received))) and len(received) < renames
            assert info.metadata["resume_revision"] == str(received[-1] if received else 1)
        assert len(_consecutive_after_snapshot(fast)) >= renames
    finally:
        daemon.stop()


def test_a_job_submitted_with_the_official_client_appears_in_the_feed(
    emulator: Emulator, dlcs: tuple[Path, Path], tmp_path: Path
) -> None:
    """--hub-scope mine: the daemon follows every link job of the user; a watcher of every job
    makes the listing run every 1.6-2 s here, so the job appears within a cycle or so."""
    daemon = _daemon(tmp_path, emulator, "--hub-scope", "mine", "--wait-poll-interval", "2")
    config = hub.ClientConfig(
        api_token=TEST_TOKEN, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
    )
    try:
        with watching(daemon.socket) as watcher:
            watcher.wait_for("the snapshot", _snapshot_end)
            theirs = hub.Client(config=config).submit_link_job(
                [str(p) for p in dlcs], hub.Device(DEVICE), name="from qai_hub"
            )
            watcher.wait_for("the job qai_hub submitted", watcher.saw("APPEARED", theirs.job_id))
        with Client(daemon.socket) as client:
            assert theirs.job_id in [j.job_id for j in client.get_jobs()]  # `aihubctl jobs` lists it
            client.untrack_job(theirs.job_id)
        refresh(daemon.socket)  # the listing still shows it: untracked stays untracked
        with Client(daemon.socket) as client:
            assert theirs.job_id not in [j.job_id for j in client.get_jobs()]
    finally:
        daemon.stop()
