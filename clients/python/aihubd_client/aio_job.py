"""``AsyncLinkJob``: ``LinkJob`` for asyncio code; the same names, as coroutines.

Cancelling a waiting task stops the waiting (the RPC is cancelled), never the job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_transport import AsyncConnection
from .errors import DaemonUnavailableError, InternalError, daemon_unavailable, job_timeout
from .inputs import (
    PathArg,
    absolute_path,
    artifact_type_value,
    caller_style_path,
    check_sharing_change,
)
from .jobview import JobView
from .resume import DEFAULT_RECONNECT, Deadline, Outage, ReconnectPolicy
from .status import JobStatus
from .transport import TimeoutFactory
from .values import ArtifactType, LinkJobResult, ModelChunk, TargetModel

__all__ = ["AsyncLinkJob"]


class AsyncLinkJob(JobView):
    """A link job for asyncio code. Built by ``AsyncClient``, not directly."""

    def __init__(
        self,
        message: pb.Job,
        connection: AsyncConnection,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    ) -> None:
        self._connection = connection
        self._reconnect = reconnect
        super().__init__(message)

    async def get_status(self) -> JobStatus:
        """Ask the daemon for the job's current status (one call, never blocks)."""
        self._apply(await self._unary("GetJob", pb.GetJobRequest(job_id=self.job_id)))
        return self._status

    async def iter_status(self, timeout: float | None = None) -> AsyncIterator[JobStatus]:
        """The current status, then each change, ending after SUCCESS or FAILED.

        Rides out a daemon restart like ``LinkJob.iter_status``.
        """
        if self._status.finished:
            yield self._status
            return
        deadline = Deadline(timeout)
        outage = Outage(self._reconnect)
        shown: tuple[str, str] | None = None
        while True:
            try:
                async for status in self._stream_once(deadline, outage):
                    if (status.code, status.message) != shown:
                        shown = (status.code, status.message)
                        yield status
                return
            except DaemonUnavailableError:
                pause = outage.lost()
                if pause is None:
                    raise
                remaining = deadline.remaining()
                if remaining is not None and remaining <= pause:
                    await asyncio.sleep(remaining)
                    raise job_timeout(self.job_id, deadline.seconds or 0) from None
                await asyncio.sleep(pause)

    async def wait(self, timeout: float | None = None) -> JobStatus:
        """Wait until the job finishes; its final status (a FAILED job does not raise)."""
        async for _ in self.iter_status(timeout):
            pass
        return self._status

    async def download_target_model(
        self, filename: PathArg | None = None, timeout: float | None = None
    ) -> bytes | str | None:
        """Like ``LinkJob.download_target_model``: bytes, the path written, or None if failed."""
        if filename is None:
            return await self._read_target_model(timeout)
        argument = os.path.expanduser(os.fspath(filename))
        destination = absolute_path(argument)
        request = pb.DownloadTargetModelRequest(job_id=self.job_id, destination=destination)
        response = await self._unary(
            "DownloadTargetModel", request, timeout, "Downloading the target model"
        )
        if not response.paths:
            return None
        return caller_style_path(argument, destination, response.paths[0])

    async def iter_target_model(self, timeout: float | None = None) -> AsyncIterator[ModelChunk]:
        """The target model as chunks; nothing when the job failed (first chunk: name, size)."""
        async with self._connection.stream(
            self._connection.jobs.ReadTargetModel,
            pb.ReadTargetModelRequest(job_id=self.job_id),
            timeout=timeout or None,
            on_timeout=self._timeout_factory(timeout, "Reading the target model"),
        ) as call:
            async for chunk in call:
                yield ModelChunk(chunk.data, chunk.filename, chunk.total_size)

    async def download_job_logs(
        self, output_dir: PathArg, timeout: float | None = None
    ) -> list[str]:
        """Device log then Hub log into ``output_dir`` (created); the absolute paths."""
        request = pb.DownloadJobLogsRequest(
            job_id=self.job_id, output_dir=absolute_path(output_dir)
        )
        response = await self._unary("DownloadJobLogs", request, timeout, "Downloading the logs")
        return list(response.paths)

    async def download_artifacts_for_type(
        self, output_dir: PathArg, artifact_type: Any, timeout: float | None = None
    ) -> list[str]:
        """All artifacts of one type into ``output_dir``; ``[]`` when not available."""
        request = pb.DownloadArtifactsRequest(
            job_id=self.job_id,
            output_dir=absolute_path(output_dir),
            artifact_type=artifact_type_value(artifact_type),
        )
        response = await self._unary(
            "DownloadArtifacts", request, timeout, "Downloading artifacts"
        )
        return list(response.paths)

    async def download_results(
        self, artifacts_dir: PathArg, timeout: float | None = None
    ) -> LinkJobResult:
        """Logs, then the target model, into ``artifacts_dir`` (created)."""
        deadline = Deadline(timeout)
        directory = absolute_path(artifacts_dir)
        os.makedirs(directory, exist_ok=True)
        try:
            await self.download_job_logs(directory, self._left(deadline))
            await self.download_target_model(directory, self._left(deadline))
        except TimeoutError:
            raise job_timeout(self.job_id, timeout or 0, "Downloading the results") from None
        status = await self.get_status()
        return LinkJobResult(status=status, url=self.url, artifacts_dir=directory)

    async def get_available_artifacts(self, timeout: float | None = None) -> list[ArtifactType]:
        """The artifact types available for download; waits for the job to end first."""
        await self.wait(timeout)
        return list(self.available_artifacts)

    async def get_target_model(self, timeout: float | None = None) -> TargetModel | None:
        """The target model's description, or None when the job failed."""
        message = await self._unary(
            "GetTargetModel", pb.GetTargetModelRequest(job_id=self.job_id), timeout
        )
        return TargetModel.from_pb(message) if message.present else None

    async def set_name(self, job_name: str) -> None:
        """Rename the job on the Hub."""
        request = pb.SetJobNameRequest(job_id=self.job_id, name=job_name)
        self._apply(await self._unary("SetJobName", request))

    async def get_sharing(self) -> list[str]:
        """The email addresses the job is shared with (read from the Hub)."""
        sharing = await self._unary("GetSharing", pb.GetSharingRequest(job_id=self.job_id))
        return list(sharing.emails)

    async def modify_sharing(
        self, add_emails: list[str] | None = None, delete_emails: list[str] | None = None
    ) -> None:
        """Share the job with more people, or fewer (checked like ``qai_hub`` first)."""
        add, delete = check_sharing_change(add_emails, delete_emails)
        request = pb.ModifySharingRequest(job_id=self.job_id, add_emails=add, delete_emails=delete)
        await self._unary("ModifySharing", request)

    async def disable_sharing(self) -> None:
        """Stop sharing the job with anyone."""
        await self._unary("DisableSharing", pb.DisableSharingRequest(job_id=self.job_id))

    async def _stream_once(self, deadline: Deadline, outage: Outage) -> AsyncIterator[JobStatus]:
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise job_timeout(self.job_id, deadline.seconds or 0)
        async with self._connection.stream(
            self._connection.jobs.WaitJob,
            pb.WaitJobRequest(job_id=self.job_id),
            timeout=remaining,
            on_timeout=lambda: job_timeout(self.job_id, deadline.seconds or 0),
        ) as call:
            first = True
            async for message in call:
                self._apply(message)
                if first:
                    outage.connected()
                    first = False
                if message.daemon_shutting_down:
                    raise daemon_unavailable(
                        self._connection.socket_path,
                        f"aihubd is shutting down; job {self.job_id} is still "
                        f"{self._status.code}, wait again once the daemon is back",
                    )
                yield self._status
                if self._status.finished:
                    return
        raise InternalError(f"the daemon ended the wait for job {self.job_id} before it finished")

    async def _read_target_model(self, timeout: float | None) -> bytes | None:
        parts: list[bytes] = []
        expected = None
        async for chunk in self.iter_target_model(timeout):
            if expected is None:
                expected = chunk.total_size
            parts.append(chunk.data)
        if expected is None:
            return None
        data = b"".join(parts)
        if expected and len(data) != expected:
            raise InternalError(
                f"target model of job {self.job_id} truncated: {len(data)} of {expected} bytes"
            )
        return data

    async def _unary(
        self, method: str, request: Any, timeout: float | None = None, doing: str = ""
    ) -> Any:
        return await self._connection.unary(
            getattr(self._connection.jobs, method),
            request,
            timeout=timeout or None,
            on_timeout=self._timeout_factory(timeout, doing),
        )

    def _timeout_factory(self, timeout: float | None, doing: str) -> TimeoutFactory | None:
        if not timeout:
            return None
        return lambda: job_timeout(self.job_id, timeout, doing)

    def _left(self, deadline: Deadline) -> float | None:
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise job_timeout(self.job_id, deadline.seconds or 0, "Downloading the results")
        return remaining
