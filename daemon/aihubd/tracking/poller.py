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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import AihubdError, HubAuthError, HubUnavailable, NotFound
from ..hub.api import HubApi
from ..hub.budget import polling
from ..model import Job, JobState, JobSummary
from ..store.jobs import JobStore
from .notifier import Notifier
from .schedule import Schedule

__all__ = ["CycleResult", "Poller"]

log = logging.getLogger(__name__)

IN_FLIGHT = JobState.in_flight_states()
DISCOVERY = "*listing*"  # the schedule's key for the listing itself (no job id looks like it)
RECENT_EVERY = 60.0  # seconds between listings of the user's recent jobs in any state


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
        self._failing = False
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
        """True since the last cycle that could not reach the Hub, until one that could."""
        return self._failing

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
            try:
                with polling():  # the Hub budget's polling lane: on-demand look-ups never delay it
                    await self._cycle(everything=nudged, skip_if_satisfied=nudged)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything one cycle does...
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # ...but never swallow its own cancellation
                    raise
                log.exception("poll cycle failed")
            if nudged:
                await asyncio.sleep(self._nudge_gap)  # debounce bursts of nudges (e.g. many new waiters)
            next_due = self._schedule.next_due()
            delay = None if next_due is None else max(0.0, next_due - self._clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                nudged = True
            except TimeoutError:
                nudged = False
            self._wake.clear()

    async def poll_now(self) -> CycleResult:
        """Look at every job in flight now; returns how many were polled and how many changed.
        During a long Retry-After pause it fails at once (HubPaused) instead of waiting it out."""
        self._check_pause()
        with polling():
            return await self._cycle(everything=True, skip_if_satisfied=False)

    async def _cycle(self, *, everything: bool, skip_if_satisfied: bool) -> CycleResult:
        async with self._cycle_lock:
            if skip_if_satisfied and self._started >= self._wanted:
                return CycleResult(0, 0)
            self._started += 1
            now = self._clock()
            in_flight = self._store.in_flight()
            due = {j.job_id for j in in_flight if everything or self._schedule.is_due(j.job_id, now)}
            discover = self._adopt and (everything or self._schedule.is_due(DISCOVERY, now))
            if not due and not discover:
                return CycleResult(0, 0)
            listing_ran = False
            try:
                listed = await self._listing() if discover or due - self._schedule.unlisted else {}
                listing_ran = bool(discover or due - self._schedule.unlisted)
            except (HubUnavailable, HubAuthError) as exc:
                self._note_failure(exc)
                log.debug("cycle %d: listing failed: %s", self._started, exc)
                return CycleResult(0, 0)
            except AihubdError as exc:  # an answer the listing cannot use: read the due jobs directly
                log.warning("cycle %d: the job listing failed (%s); reading due jobs one by one", self._started, exc)
                listed = {}
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
            self._fetched_at.update((job_id, now) for job_id, job in fetched.items() if job is not None)
            jobs = [j for j in in_flight if j.job_id in listed or j.job_id in fetched]
            changed, seen = self._reconcile(jobs, listed, fetched, now)
            if discover:
                adopted = await self._adoptions(listed, now)
                changed.extend(adopted)
                self._schedule.observed(DISCOVERY, now, changed=bool(adopted))
            await self._store.save(changed)  # the store first, then the bell
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
            if self._failing and (listed or fetched):
                self._failing = False
                log.info("the Hub answers again")
            self.cycles += 1
            return CycleResult(len(jobs), len(changed))

    def _reconcile(
        self, jobs: list[Job], listed: dict[str, JobSummary], fetched: dict[str, Job | None], now: float
    ) -> tuple[list[Job], list[str]]:
        """Compare what the Hub said with the store; reschedule every job looked at."""
        changed: list[Job] = []
        seen: list[str] = []
        for old in jobs:
            summary = listed.get(old.job_id)
            if old.job_id in fetched:
                new = fetched[old.job_id]
                if new is None:  # unreadable this time: try again on schedule
                    continue
                if summary is None and not new.terminal:
                    self._schedule.unlisted.add(old.job_id)  # the listing cannot see it: poll it directly
                    self._summaries.pop(old.job_id, None)
                is_change, terminal = not old.same_observation(new), new.terminal
                if is_change:
                    changed.append(new)
            elif summary is not None:
                is_change, terminal = False, False
            else:
                continue
            if summary is not None:
                self._summaries[old.job_id] = summary
            seen.append(old.job_id)
            if terminal:
                self._schedule.forget(old.job_id)
                self._summaries.pop(old.job_id, None)
                self._fetched_at.pop(old.job_id, None)
            else:
                self._schedule.observed(old.job_id, now, changed=is_change)
        return changed, seen

    async def _adoptions(self, listed: dict[str, JobSummary], now: float) -> list[Job]:
        """The user's jobs the daemon does not follow yet (and nobody untracked), read in full:
        those in flight the listing shows, and, at most every RECENT_EVERY s, those created since
        the daemon started that already finished (they started and ended between two cycles)."""
        rows = dict(listed)
        if self._recent_at is None or now - self._recent_at >= RECENT_EVERY:
            self._recent_at = now
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
        for job in adopted:
            if not job.terminal:
                self._fetched_at[job.job_id] = now
                self._summaries[job.job_id] = rows[job.job_id]
                self._schedule.track(job.job_id, now, soon=False)
                self._schedule.observed(job.job_id, now, changed=True)
        if adopted:
            self.adopted += len(adopted)
            log.info("following %d job(s) submitted elsewhere", len(adopted))
        return adopted

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
                return await self._hub.get_job(job_id)
            except (HubUnavailable, HubAuthError) as exc:
                self._note_failure(exc)
            except NotFound:
                log.warning("job %s is no longer visible on the Hub; keeping its last known state", job_id)
            except AihubdError as exc:
                log.warning("polling job %s failed: %s", job_id, exc)
        return None

    def _announce_finished(self, changed: Iterable[Job]) -> None:
        for job in changed:
            if job.terminal:
                for listener in self._finished_listeners:
                    try:
                        listener(job)
                    except Exception:
                        log.exception("a job-finished listener failed")

    def _note_failure(self, exc: AihubdError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("polling paused by Hub trouble: %s", exc)


def _shows_change(job: Job, summary: JobSummary, previous: JobSummary | None) -> bool:
    """Whether the listing shows something new since the last listing (or, the first time,
    something different from the stored job)."""
    if previous is not None:
        return (summary.state, summary.last_updated_time) != (previous.state, previous.last_updated_time)
    return summary.state != job.state or summary.last_updated_time != job.last_updated_time
