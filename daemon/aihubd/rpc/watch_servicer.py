"""WatchJobs: the request becomes a filter and a start revision, each feed event a JobEvent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aihubd_api.v1 import aihubd_pb2 as api

from ..model import Job, JobState
from ..services.feed import FeedEvent, FeedService, WatchFilter
from .context import Context
from .convert import job_to_proto
from .errors import rpc_errors

__all__ = ["event_to_proto", "watch_jobs"]


def event_to_proto(
    event: FeedEvent, web_url: str, store_id: str, stale: Callable[[Job], bool] = lambda job: False
) -> api.JobEvent:
    """``stale``: whether the job's state may be out of date as it is sent (polling in trouble)."""
    return api.JobEvent(
        store_id=store_id,
        kind=api.JobEventKind.ValueType(event.kind),
        revision=event.revision,
        job=job_to_proto(event.job, web_url, stale=stale(event.job)) if event.job is not None else None,
        changed=list(event.changed),
    )


async def watch_jobs(
    feed: FeedService,
    request: api.WatchJobsRequest,
    context: Context,
    web_url: str,
    stale: Callable[[Job], bool] = lambda job: False,
) -> AsyncIterator[api.JobEvent]:
    """The body of LinkJobService.WatchJobs."""
    async with rpc_errors(context, "WatchJobs"):
        watch_filter = WatchFilter.checked(
            request.job_ids, (JobState.of(s) for s in request.states), request.name_contains
        )
        since = request.since_revision if request.HasField("since_revision") else None
        store_id = await feed.store_id()
        async for event in feed.watch(watch_filter, since, request.store_id):
            yield event_to_proto(event, web_url, store_id, stale)
