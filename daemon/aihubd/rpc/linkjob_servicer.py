"""LinkJobService: each RPC is a call on a service plus conversion, nothing more."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from ..errors import StreamStalled
from ..model import Job, JobState
from ..services.artifacts import ArtifactService
from ..services.feed import FeedService
from ..services.jobs import JobService, ShuttingDown
from ..services.sharing import SharingService
from ..services.submissions import Submitter
from .context import Context
from .convert import artifact_type, job_to_proto, model_sources, target_model_to_proto
from .errors import rpc_errors
from .peers import peer_key
from .watch_servicer import watch_jobs

__all__ = ["LinkJobServicer"]


class LinkJobServicer(api_grpc.LinkJobServiceServicer):
    def __init__(
        self,
        jobs: JobService,
        submitter: Submitter,
        artifacts: ArtifactService,
        sharing: SharingService,
        web_url: str,
        feed: FeedService,
        *,
        write_timeout: float = 60.0,
    ) -> None:
        self._feed = feed
        self._write_timeout = write_timeout
        self._jobs = jobs
        self._submitter = submitter
        self._artifacts = artifacts
        self._sharing = sharing
        self._protos: dict[str, tuple[Job, bool, api.Job]] = {}
        self._web_url = web_url

    async def SubmitLinkJob(self, request: api.SubmitLinkJobRequest, context: Context) -> api.Job:
        async with rpc_errors(context, "SubmitLinkJob"):
            job = await self._submitter.submit(
                model_sources(list(request.models)),
                request.device,
                request.name,
                request.options,
                request.project_id,
                request.request_id,
            )
            return job_to_proto(job, self._web_url)

    async def GetJob(self, request: api.GetJobRequest, context: Context) -> api.Job:
        async with rpc_errors(context, "GetJob"):
            job = await self._jobs.get(request.job_id, peer=peer_key(context))
            return job_to_proto(job, self._web_url, stale=self._jobs.stale(job))

    async def WaitJob(self, request: api.WaitJobRequest, context: Context) -> AsyncIterator[api.Job]:
        async with rpc_errors(context, "WaitJob"):
            last = None
            try:
                async for last in self._jobs.watch(request.job_id, peer=peer_key(context)):
                    yield self._shared_proto(last)
            except ShuttingDown:
                if last is None:
                    raise
                # A clean end: the last known state, marked so the client waits again later.
                yield job_to_proto(last, self._web_url, stale=True, shutting_down=True)

    def _shared_proto(self, job: Job) -> api.Job:
        """One conversion per job version for all its waiters (a change wakes them all at once)."""
        stale = self._jobs.stale(job)
        cached = self._protos.get(job.job_id)
        if cached is not None and cached[0] is job and cached[1] == stale:
            return cached[2]
        message = job_to_proto(job, self._web_url, stale=stale)
        if len(self._protos) > 10_000:
            self._protos.clear()
        self._protos[job.job_id] = (job, stale, message)
        return message

    async def RefreshJobs(self, request: api.RefreshJobsRequest, context: Context) -> api.RefreshJobsResponse:
        async with rpc_errors(context, "RefreshJobs"):
            result = await self._jobs.refresh()
            return api.RefreshJobsResponse(polled=result.polled, changed=result.changed)

    async def DownloadTargetModel(
        self, request: api.DownloadTargetModelRequest, context: Context
    ) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadTargetModel"):
            paths, job = await self._artifacts.download_target_model(request.job_id, request.destination)
            return api.DownloadResponse(paths=paths, state=api.JobState.ValueType(job.state))

    async def ReadTargetModel(  # type: ignore[override]  # writes itself (bounded in time), yields nothing
        self, request: api.ReadTargetModelRequest, context: Context
    ) -> None:
        """Each chunk is written and awaited before the next is read (one chunk in memory); a write
        the reader does not take within the write timeout ends the stream, its file closed and
        its blob unpinned."""
        async with rpc_errors(context, "ReadTargetModel"):
            _, file, chunks = await self._artifacts.read_target_model(request.job_id)
            async with contextlib.aclosing(chunks):
                first = file is not None
                async for data in chunks:
                    if first and file is not None:
                        message = api.Chunk(data=data, filename=file.filename, total_size=file.size)
                        first = False
                    else:
                        message = api.Chunk(data=data)
                    try:
                        async with asyncio.timeout(self._write_timeout):
                            await context.write(message)
                    except TimeoutError:
                        raise StreamStalled(
                            f"ReadTargetModel of job {request.job_id}: the reader took nothing for "
                            f"{self._write_timeout:g} s (--stream-write-timeout); the stream was ended"
                        ) from None

    async def DownloadJobLogs(self, request: api.DownloadJobLogsRequest, context: Context) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadJobLogs"):
            paths, job = await self._artifacts.download_logs(request.job_id, request.output_dir)
            return api.DownloadResponse(paths=paths, state=api.JobState.ValueType(job.state))

    async def ListJobs(self, request: api.ListJobsRequest, context: Context) -> api.ListJobsResponse:
        async with rpc_errors(context, "ListJobs"):
            jobs, total = await self._jobs.list(
                [JobState.of(s) for s in request.states], request.name_contains, request.limit, request.offset
            )
            messages = [job_to_proto(j, self._web_url, stale=self._jobs.stale(j)) for j in jobs]
            return api.ListJobsResponse(jobs=messages, total=total)

    async def TrackJob(self, request: api.TrackJobRequest, context: Context) -> api.Job:
        async with rpc_errors(context, "TrackJob"):
            return job_to_proto(await self._jobs.track(request.job_id, peer=peer_key(context)), self._web_url)

    async def UntrackJob(self, request: api.UntrackJobRequest, context: Context) -> api.UntrackJobResponse:
        async with rpc_errors(context, "UntrackJob"):
            return api.UntrackJobResponse(was_tracked=await self._jobs.untrack(request.job_id))

    async def SetJobName(self, request: api.SetJobNameRequest, context: Context) -> api.Job:
        async with rpc_errors(context, "SetJobName"):
            return job_to_proto(await self._jobs.set_name(request.job_id, request.name), self._web_url)

    async def GetSharing(self, request: api.GetSharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "GetSharing"):
            return api.Sharing(emails=await self._sharing.get(request.job_id))

    async def ModifySharing(self, request: api.ModifySharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "ModifySharing"):
            emails = await self._sharing.modify(request.job_id, list(request.add_emails), list(request.delete_emails))
            return api.Sharing(emails=emails)

    async def DisableSharing(self, request: api.DisableSharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "DisableSharing"):
            return api.Sharing(emails=await self._sharing.disable(request.job_id))

    async def DownloadArtifacts(self, request: api.DownloadArtifactsRequest, context: Context) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadArtifacts"):
            paths, job = await self._artifacts.download_artifacts(
                request.job_id, request.output_dir, artifact_type(request.artifact_type)
            )
            return api.DownloadResponse(paths=paths, state=api.JobState.ValueType(job.state))

    async def GetTargetModel(self, request: api.GetTargetModelRequest, context: Context) -> api.TargetModel:
        async with rpc_errors(context, "GetTargetModel"):
            info, filename, _ = await self._artifacts.target_model(request.job_id)
            return target_model_to_proto(info, filename, self._web_url)

    async def PeekJob(self, request: api.PeekJobRequest, context: Context) -> api.Job:
        async with rpc_errors(context, "PeekJob"):
            job, tracked = await self._jobs.peek(request.job_id, peer=peer_key(context))
            return job_to_proto(job, self._web_url, stale=tracked and self._jobs.stale(job))

    async def WatchJobs(self, request: api.WatchJobsRequest, context: Context) -> AsyncIterator[api.JobEvent]:
        async for event in watch_jobs(self._feed, request, context, self._web_url, self._jobs.stale):
            yield event
