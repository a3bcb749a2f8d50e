"""LinkJobService: each RPC is a call on a service plus conversion, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from ..services.artifacts import ArtifactService
from ..services.jobs import JobService
from .convert import job_to_proto, model_sources
from .errors import rpc_errors

__all__ = ["LinkJobServicer"]


class LinkJobServicer(api_grpc.LinkJobServiceServicer):
    def __init__(self, jobs: JobService, artifacts: ArtifactService, web_url: str) -> None:
        self._jobs = jobs
        self._artifacts = artifacts
        self._web_url = web_url

    async def SubmitLinkJob(self, request: api.SubmitLinkJobRequest, context: grpc.aio.ServicerContext) -> api.Job:
        async with rpc_errors(context, "SubmitLinkJob"):
            job = await self._jobs.submit(model_sources(list(request.models)), request.device, request.name,
                                          request.options, request.project_id)
            return job_to_proto(job, self._web_url)

    async def GetJob(self, request: api.GetJobRequest, context: grpc.aio.ServicerContext) -> api.Job:
        async with rpc_errors(context, "GetJob"):
            return job_to_proto(await self._jobs.get(request.job_id), self._web_url)

    async def WaitJob(self, request: api.WaitJobRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[api.Job]:
        async with rpc_errors(context, "WaitJob"):
            async for job in self._jobs.watch(request.job_id):
                yield job_to_proto(job, self._web_url)

    async def RefreshJobs(self, request: api.RefreshJobsRequest,
                          context: grpc.aio.ServicerContext) -> api.RefreshJobsResponse:
        async with rpc_errors(context, "RefreshJobs"):
            result = await self._jobs.refresh()
            return api.RefreshJobsResponse(polled=result.polled, changed=result.changed)

    async def DownloadTargetModel(self, request: api.DownloadTargetModelRequest,
                                  context: grpc.aio.ServicerContext) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadTargetModel"):
            paths, job = await self._artifacts.download_target_model(request.job_id, request.destination)
            return api.DownloadResponse(paths=paths, state=int(job.state))

    async def ReadTargetModel(self, request: api.ReadTargetModelRequest,
                              context: grpc.aio.ServicerContext) -> AsyncIterator[api.Chunk]:
        async with rpc_errors(context, "ReadTargetModel"):
            job, filename, chunks = await self._artifacts.read_target_model(request.job_id)
            first = True
            async for data in chunks:
                yield api.Chunk(data=data, filename=filename if first else "")
                first = False

    async def DownloadJobLogs(self, request: api.DownloadJobLogsRequest,
                              context: grpc.aio.ServicerContext) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadJobLogs"):
            paths, job = await self._artifacts.download_logs(request.job_id, request.output_dir)
            return api.DownloadResponse(paths=paths, state=int(job.state))
