"""The only code that asks the Hub for job status: one loop for every job in flight.

A cycle learns the state of all in-flight jobs from the job-summaries listing (``type=link``,
in-flight states, this account's jobs only, paged while a page comes back full — the Hub's total
count is not trusted) and fetches a full job only when its summary shows a change, or when the
listing cannot show it (finished since, or another creator's / project's job). A summary without
``last_updated_time`` can only show a state change, so such a job is also fetched in full once it
has gone ``full_refresh`` seconds without one. Changes are written in one transaction, then the
notifier rings. Terminal jobs cost nothing. Waiters never poll; they register (``waiting``) so
the jobs they wait on are looked at within the cadence's ``wait`` gap, and a new waiter nudges:
asks for one cycle soon, debounced.

What the poller believes (the listing rows it remembers, when each job was read, the schedule)
moves only once the store has committed the cycle's changes: a cycle whose save fails leaves it
as it was, so the next cycle sees the same changes again. Every failure of a cycle (the Hub
unreachable or answering garbage, a store write failing) is trouble: the jobs in flight read as
stale, cycles back off (``Backoff``), and one line is logged when trouble starts and one when it
ends (as Home Assistant's DataUpdateCoordinator does), never a traceback per cycle.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from ..errors import AihubdError, HubAuthError, HubError, HubUnavailable, NotFound
from ..hub.api import HubApi
from ..hub.budget import polling
from ..hub.retry import Backoff, RetryPolicy
from ..model import Job, JobState, JobSummary
from ..store.jobs import JobStore
from .notifier import Notifier
from .schedule import Schedule

__all__ = ["CycleResult", "Poller"]

log = logging.getLogger(__name__)

IN_FLIGHT = JobState.in_flight_states()
DISCOVERY = "*listing*"  # the schedule's key for the listing itself (no job id looks like it)
RECENT_EVERY = 60.0  # seconds between listings of the user's recent jobs in any state
CYCLE_BACKOFF = RetryPolicy(base=2.0, cap=60.0)  # waits between failing cycles: 2, 4, 8, ... 60 s (+jitter)


@dataclass(frozen=True)
class CycleResult:
    polled: int
    changed: int


class Poller:
    def __init__(
        self,
        hub: HubApi,
        store: JobStore,
        notifier: Notifier,
        schedule: Schedule,
        *,
        page_size: int = 50,
        concurrency: int = 8,
        nudge_gap: float = 0.5,
        full_refresh: float = 300.0,
        adopt: bool = False,
        check_pause: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff: RetryPolicy = CYCLE_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._hub = hub
        self._check_pause = check_pause  # raises HubPaused while a long Retry-After holds Hub traffic
        self._store = store
        self._notifier = notifier
        self._schedule = schedule
        self._page_size = page_size
        self._gate = asyncio.Semaphore(concurrency)
        self._nudge_gap = nudge_gap
        self._clock = clock
        self._cycle_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._trouble: str | None = None  # why the last cycle failed, until one succeeds
        self._trouble_is_hub = False  # ...and whether the Hub (not the store) was the cause
        self._cycle_troubles: list[AihubdError] = []  # the Hub failures of this cycle's reads
        self._invisible: set[str] = set()  # jobs the Hub answers 404 for: told once, not every cycle
        self._backoff = Backoff(backoff, clock)
        self._listing_trouble: str | None = None  # why the listing is unusable (logged once), if it is
        self._sleep = sleep  # the run loop's pauses (a fake one, on the fake clock, in tests)
        self._started = 0  # cycles started so far
        self._wanted = 0  # a nudge wants a cycle numbered at least this
        self._finished_listeners: list[Callable[[Job], None]] = []
        self._summaries: dict[str, JobSummary] = {}  # the last listing row seen per job
        self._full_refresh = full_refresh
        self._fetched_at: dict[str, float] = {}  # when each job was last read in full (clock time)
        self.cycles = 0
        # --hub-scope mine: follow every link job of the user the listing shows, wherever it was
        # submitted, and those that started and finished between two cycles (a listing of recent
        # jobs in any state, at most every RECENT_EVERY s, of jobs created since we started).
        self._adopt = adopt
        self._adopt_since = wall_clock()
        self._recent_at: float | None = None
        self.adopted = 0

    @property
    def hub_trouble(self) -> bool:
        """True since a cycle failed (the jobs in flight are stale), until one succeeds."""
        return self._trouble is not None

    @property
    def trouble(self) -> tuple[str, bool] | None:
        """Why polling is in trouble and whether the Hub is the cause (else the store); None if not."""
        return None if self._trouble is None else (self._trouble, self._trouble_is_hub)

    def backoff_remaining(self) -> float:
        """Seconds before the next scheduled or nudged cycle may start (0 unless in trouble)."""
        return self._backoff.remaining()

    @property
    def started_cycles(self) -> int:
        return self._started

    def on_finished(self, listener: Callable[[Job], None]) -> None:
        """Call ``listener`` (which must not raise) for each job seen reaching a terminal state."""
        self._finished_listeners.append(listener)

    def follow(self, job: Job, *, soon: bool) -> None:
        """Start tracking a job in flight (submitted: ``soon``; adopted or resumed: on schedule)."""
        if not job.terminal:
            self._schedule.track(job.job_id, self._clock(), soon=soon)
            if soon:
                self.nudge()

    def forget(self, job_id: str) -> None:
        self._schedule.forget(job_id)
        self._invisible.discard(job_id)

    @contextmanager
    def waiting(self, job_ids: Collection[str] | None) -> Iterator[None]:
        """While inside, a client waits on these jobs (None: every job): they are looked at with
        gaps of at most the cadence's ``wait``, starting with a nudged cycle."""
        ids = None if job_ids is None else tuple(job_ids)
        self._schedule.add_waiter(ids, self._clock())
        self.nudge()
        try:
            yield
        finally:
            self._schedule.remove_waiter(ids)

    def nudge(self) -> None:
        """Ask for a cycle that starts after now. Debounced: any later cycle satisfies it."""
        self._wanted = self._started + 1
        self._wake.set()

    async def run(self) -> None:
        """Poll jobs as they fall due, and on nudges, until cancelled."""
        for job in self._store.in_flight():
            self.follow(job, soon=False)
        if self._adopt:
            self._schedule.track(DISCOVERY, self._clock(), soon=True)
        nudged = False
        while True:
            pause = self._backoff.remaining()
            if pause > 0:  # in trouble: neither due jobs nor nudges start a cycle before the backoff ends
                await self._sleep(pause)
            with polling():  # the Hub budget's polling lane: on-demand look-ups never delay it
                await self._cycle(everything=nudged, skip_if_satisfied=nudged)  # survives what a cycle does
            if nudged:
                await self._sleep(self._nudge_gap)  # debounce bursts of nudges (e.g. many new waiters)
            next_due = self._schedule.next_due()
            delay = None if next_due is None else max(0.0, next_due - self._clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                nudged = True
            except TimeoutError:
                nudged = False
            self._wake.clear()

    async def poll_now(self) -> CycleResult:
        """Look at every job in flight now (even during a backoff: a client asked); returns how many
        were polled and how many changed (0 and 0 when the cycle failed: the jobs read as stale).
        During a long Retry-After pause it fails at once (HubPaused) instead of waiting it out."""
        self._check_pause()
        with polling():
            return await self._cycle(everything=True, skip_if_satisfied=False)

    async def _cycle(self, *, everything: bool, skip_if_satisfied: bool) -> CycleResult:
        async with self._cycle_lock:
            if skip_if_satisfied and self._started >= self._wanted:
                return CycleResult(0, 0)
            self._started += 1
            self._cycle_troubles.clear()
            try:
                result = await self._look(everything)
            except Exception as exc:  # anything a cycle does is survived, and counts as trouble...
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # ...but its own cancellation is never swallowed
                    raise
                self._failed(exc)
                return CycleResult(0, 0)
            if self._cycle_troubles:
                self._failed(self._cycle_troubles[0])
            elif result is not None:
                self._succeeded()
            return result or CycleResult(0, 0)

    async def _look(self, everything: bool) -> CycleResult | None:
        """One cycle's work (None: nothing was due); the poller's beliefs move after the commit."""
        now = self._clock()
        in_flight = self._store.in_flight()
        due = {j.job_id for j in in_flight if everything or self._schedule.is_due(j.job_id, now)}
        discover = self._adopt and (everything or self._schedule.is_due(DISCOVERY, now))
        if not due and not discover:
            return None
        listing_ran = False
        try:
            listed = await self._listing() if discover or due - self._schedule.unlisted else {}
            listing_ran = bool(discover or due - self._schedule.unlisted)
        except (HubUnavailable, HubAuthError):
            raise  # trouble: nothing else is asked this cycle
        except AihubdError as exc:  # an answer the listing cannot use: read the due jobs directly
            if self._listing_trouble != str(exc):  # said once, not every cycle
                log.warning("the job listing failed (%s); reading due jobs one by one", exc)
            self._listing_trouble = str(exc)
            listed = {}
        else:
            if listing_ran:
                self._listing_trouble = None
        # The listing covers every job it shows, due or not: fetch those it shows changed, those
        # it showed last time and no longer does (most likely finished: left the in-flight
        # states), and those it cannot show only when they are due.
        to_fetch = [
            j
            for j in in_flight
            if (j.job_id in listed and self._needs_fetch(j, listed[j.job_id], now))
            or (j.job_id not in listed and j.job_id in due)
            or (listing_ran and j.job_id not in listed and j.job_id in self._summaries)
        ]
        reads = await asyncio.gather(*map(self._read, to_fetch))
        fetched = dict(zip((j.job_id for j in to_fetch), reads, strict=True))
        after: list[Callable[[], None]] = []  # what the poller believes once the store committed
        after.append(lambda: self._fetched_at.update((i, now) for i, job in fetched.items() if job is not None))
        jobs = [j for j in in_flight if j.job_id in listed or j.job_id in fetched]
        changed, seen = self._reconcile(jobs, listed, fetched, now, after)
        if discover:
            adopted = await self._adoptions(listed, now, after)
            changed.extend(adopted)
            after.append(partial(self._observed, DISCOVERY, None, now, changed=bool(adopted), terminal=False))
        await self._store.save(changed)  # the store first, then the beliefs, then the bell
        for belief in after:
            belief()
        self._store.mark_refreshed(seen, datetime.now(UTC))
        self._notifier.ring(job.job_id for job in changed)
        self._announce_finished(changed)
        log.debug(
            "cycle %d: %d jobs, %d listed, %d fetched, %d changed",
            self._started,
            len(jobs),
            len(listed),
            len(fetched),
            len(changed),
        )
        self.cycles += 1
        return CycleResult(len(jobs), len(changed))

    def _failed(self, exc: BaseException) -> None:
        """A cycle failed: back off; the first failure after a success is logged (once)."""
        wait = self._backoff.failed()
        reason = _reason(exc)
        hub = isinstance(exc, HubError)
        if self._trouble is None:
            bug = not isinstance(exc, (AihubdError, sqlite3.Error, OSError))  # a bug gets its one traceback
            log.warning(
                "polling paused by %s: %s; retrying with backoff (next in %.0fs)",
                "Hub trouble" if hub else "a daemon fault",
                reason,
                wait,
                exc_info=exc if bug else None,
            )
        else:
            log.debug("cycle %d failed again (%d in a row): %s", self._started, self._backoff.failures, reason)
        self._trouble, self._trouble_is_hub = reason, hub

    def _succeeded(self) -> None:
        if self._trouble is not None:
            log.info("polling resumed after %d failed cycle(s)", self._backoff.failures)
        self._trouble = None
        self._backoff.succeeded()

    def _reconcile(
        self,
        jobs: list[Job],
        listed: dict[str, JobSummary],
        fetched: dict[str, Job | None],
        now: float,
        after: list[Callable[[], None]],
    ) -> tuple[list[Job], list[str]]:
        """Compare what the Hub said with the store; the rescheduling of every job looked at and
        the listing rows to remember go into ``after`` (done once the store committed)."""
        changed: list[Job] = []
        seen: list[str] = []
        for old in jobs:
            summary = listed.get(old.job_id)
            if old.job_id in fetched:
                new = fetched[old.job_id]
                if new is None:  # unreadable this time: try again on schedule
                    continue
                if summary is None and not new.terminal:
                    after.append(partial(self._unlisted, old.job_id))  # the listing cannot see it: poll it directly
                is_change, terminal = not old.same_observation(new), new.terminal
                if is_change:
                    changed.append(new)
            elif summary is not None:
                is_change, terminal = False, False
            else:
                continue
            seen.append(old.job_id)
            after.append(partial(self._observed, old.job_id, summary, now, changed=is_change, terminal=terminal))
        return changed, seen

    def _unlisted(self, job_id: str) -> None:
        self._schedule.unlisted.add(job_id)
        self._summaries.pop(job_id, None)

    def _observed(self, job_id: str, summary: JobSummary | None, now: float, *, changed: bool, terminal: bool) -> None:
        """Believe what a committed cycle saw of a job: its listing row and its next look."""
        if summary is not None:
            self._summaries[job_id] = summary
        if terminal:
            self._schedule.forget(job_id)
            self._summaries.pop(job_id, None)
            self._fetched_at.pop(job_id, None)
        else:
            self._schedule.observed(job_id, now, changed=changed)

    async def _adoptions(self, listed: dict[str, JobSummary], now: float, after: list[Callable[[], None]]) -> list[Job]:
        """The user's jobs the daemon does not follow yet (and nobody untracked), read in full:
        those in flight the listing shows, and, at most every RECENT_EVERY s, those created since
        the daemon started that already finished (they started and ended between two cycles).
        Following them goes into ``after`` (done once the store committed them)."""
        rows = dict(listed)
        if self._recent_at is None or now - self._recent_at >= RECENT_EVERY:
            after.append(partial(setattr, self, "_recent_at", now))
            try:
                recent = await self._hub.list_link_job_summaries((), 0, self._page_size)
            except AihubdError as exc:
                log.debug("the listing of recent jobs failed: %s", exc)
                recent = []
            for row in recent:
                if row.creation_time is not None and row.creation_time >= self._adopt_since:
                    rows.setdefault(row.job_id, row)
        unknown = [job_id for job_id in rows if await self._store.get(job_id) is None]
        if not unknown:
            return []
        hidden = await self._store.untracked_among(unknown)
        wanted = [job_id for job_id in unknown if job_id not in hidden]
        reads = await asyncio.gather(*(self._read_id(job_id) for job_id in wanted))
        adopted = [job for job in reads if job is not None]
        if adopted:
            after.append(partial(self._adopted, adopted, rows, now))
        return adopted

    def _adopted(self, adopted: list[Job], rows: dict[str, JobSummary], now: float) -> None:
        for job in adopted:
            if not job.terminal:
                self._fetched_at[job.job_id] = now
                self._summaries[job.job_id] = rows[job.job_id]
                self._schedule.track(job.job_id, now, soon=False)
                self._schedule.observed(job.job_id, now, changed=True)
        self.adopted += len(adopted)
        log.info("following %d job(s) submitted elsewhere", len(adopted))

    async def _listing(self) -> dict[str, JobSummary]:
        """Every in-flight link job of this account the listing shows, page by page while pages
        come back full (the official client never reads ``total_query_count``; neither do we)."""
        found: dict[str, JobSummary] = {}
        offset = 0
        while True:
            rows = await self._hub.list_link_job_summaries(IN_FLIGHT, offset, self._page_size)
            found.update((r.job_id, r) for r in rows)
            offset += len(rows)
            if len(rows) < self._page_size:
                return found

    def _needs_fetch(self, job: Job, summary: JobSummary, now: float) -> bool:
        """Whether the listing row calls for a full read: it shows something new, or it cannot show
        changes other than the state (no ``last_updated_time``) and the last full read is old."""
        if _shows_change(job, summary, self._summaries.get(job.job_id)):
            return True
        if summary.last_updated_time is not None:
            return False
        last_read = self._fetched_at.setdefault(job.job_id, now)  # the stored copy is the first baseline
        return now - last_read >= self._full_refresh

    async def _read(self, job: Job) -> Job | None:
        return await self._read_id(job.job_id)

    async def _read_id(self, job_id: str) -> Job | None:
        async with self._gate:
            try:
                job = await self._hub.get_job(job_id)
            except HubError as exc:  # the Hub in trouble (unreachable, 401, an unusable answer)
                self._cycle_troubles.append(exc)
            except NotFound:
                if job_id not in self._invisible:
                    self._invisible.add(job_id)
                    log.warning("job %s is no longer visible on the Hub; keeping its last known state", job_id)
            except AihubdError as exc:
                log.warning("polling job %s failed: %s", job_id, exc)
            else:
                if job_id in self._invisible:
                    self._invisible.discard(job_id)
                    log.info("job %s is visible on the Hub again", job_id)
                return job
        return None

    def _announce_finished(self, changed: Iterable[Job]) -> None:
        for job in changed:
            if job.terminal:
                for listener in self._finished_listeners:
                    try:
                        listener(job)
                    except Exception:
                        log.exception("a job-finished listener failed")


def _reason(exc: BaseException) -> str:
    """What went wrong, for a person: the Hub's trouble as the adapter says it, a store failure
    naming the database."""
    if isinstance(exc, AihubdError):
        return str(exc)
    if isinstance(exc, (sqlite3.Error, OSError)):
        return f"cannot save the poll's results to the daemon's database ({exc.__class__.__name__}: {exc})"
    return f"{exc.__class__.__name__}: {exc}"


def _shows_change(job: Job, summary: JobSummary, previous: JobSummary | None) -> bool:
    """Whether the listing shows something new since the last listing (or, the first time,
    something different from the stored job)."""
    if previous is not None:
        return (summary.state, summary.last_updated_time) != (previous.state, previous.last_updated_time)
    return summary.state != job.state or summary.last_updated_time != job.last_updated_time
