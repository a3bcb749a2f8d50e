"""``JobCalls``: what ``LinkJob`` and ``AsyncLinkJob`` share beyond ``JobView``; no I/O here.

Each method that talks to the daemon is split in two. Here its ``Call`` is built: the arguments
checked, the request, the timeout and its ``TimeoutError``, and what the answer becomes (the
job's attributes updated, a path, a value). The twin only makes the call, blocking or awaited.
Also here: the bookkeeping of a wait (its deadline, its first read, what the shared stream of
``watch_hub`` brings it), the assembly of a streamed target model, and the deadline arithmetic of
``download_results``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .channel import Call, ConnectionBase, R, TimeoutFactory, as_is
from .destinations import check_download_destination, check_output_directory
from .errors import AihubdError, DaemonUnavailableError, InternalError, daemon_unavailable, job_timeout
from .inputs import (
    PathArg,
    absolute_path,
    artifact_type_value,
    caller_style_path,
    check_sharing_change,
)
from .jobview import JobValues, JobView
from .resume import Deadline, ReconnectPolicy
from .status import JobStatus
from .values import LinkJobResult, ModelChunk, TargetModel

__all__ = ["JobCalls", "ModelAssembly", "model_chunk"]

_RESULTS = "Downloading the results"


class JobCalls(JobView):
    """The calls of a link job, built but not made; subclasses make them on ``_connection``."""

    _connection: ConnectionBase

    def __init__(self, message: pb.Job, reconnect: ReconnectPolicy, verbose: bool = False) -> None:
        self._reconnect = reconnect
        super().__init__(message, verbose)

    # unary calls (``self._connection.unary(call)`` returns what the public method returns)

    def _get_status_call(self) -> Call[JobStatus]:
        return Call("GetJob", pb.GetJobRequest(job_id=self.job_id), reply=self._applied)

    def _download_target_model_call(self, filename: PathArg, timeout: float | None) -> Call[str | None]:
        argument = check_download_destination(filename)
        destination = absolute_path(argument)

        def written(response: pb.DownloadResponse) -> str | None:
            if not response.paths:
                return None
            return caller_style_path(argument, destination, response.paths[0])

        request = pb.DownloadTargetModelRequest(job_id=self.job_id, destination=destination)
        return self._call("DownloadTargetModel", request, timeout, "Downloading the target model", written)

    def _download_job_logs_call(self, output_dir: PathArg, timeout: float | None) -> Call[list[str]]:
        request = pb.DownloadJobLogsRequest(job_id=self.job_id, output_dir=check_output_directory(output_dir))
        return self._call("DownloadJobLogs", request, timeout, "Downloading the logs", _paths)

    def _download_artifacts_call(
        self, output_dir: PathArg, artifact_type: Any, timeout: float | None
    ) -> Call[list[str]]:
        request = pb.DownloadArtifactsRequest(
            job_id=self.job_id,
            output_dir=check_output_directory(output_dir),
            artifact_type=artifact_type_value(artifact_type),
        )
        return self._call("DownloadArtifacts", request, timeout, "Downloading artifacts", _paths)

    def _get_target_model_call(self, timeout: float | None) -> Call[TargetModel | None]:
        request = pb.GetTargetModelRequest(job_id=self.job_id)
        return self._call("GetTargetModel", request, timeout, reply=_target_model)

    def _set_name_call(self, job_name: str) -> Call[None]:
        request = pb.SetJobNameRequest(job_id=self.job_id, name=job_name)
        return Call("SetJobName", request, reply=self._apply)

    def _get_sharing_call(self) -> Call[list[str]]:
        return Call("GetSharing", pb.GetSharingRequest(job_id=self.job_id), reply=_emails)

    def _modify_sharing_call(self, add_emails: list[str] | None, delete_emails: list[str] | None) -> Call[Any]:
        add, delete = check_sharing_change(add_emails, delete_emails)
        request = pb.ModifySharingRequest(job_id=self.job_id, add_emails=add, delete_emails=delete)
        return Call("ModifySharing", request)

    def _disable_sharing_call(self) -> Call[Any]:
        return Call("DisableSharing", pb.DisableSharingRequest(job_id=self.job_id))

    # streams (``self._connection.stream(call)``; the twin reads the messages)

    def _read_target_model_call(self, timeout: float | None) -> Call[Any]:
        request = pb.ReadTargetModelRequest(job_id=self.job_id)
        return self._call("ReadTargetModel", request, timeout, "Reading the target model")

    # waiting (the shared stream of ``watch_hub`` / ``aio_watch_hub`` brings the changes)

    def _wait_start_call(self, deadline: Deadline) -> Call[pb.Job]:
        """The read a wait starts with (GetJob, for the time left: the current view, or the error
        for an unknown job); raises the wait's TimeoutError when no time is left."""
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise self._wait_timeout(deadline)
        return Call(
            "GetJob",
            pb.GetJobRequest(job_id=self.job_id),
            timeout=remaining,
            on_timeout=lambda: self._wait_timeout(deadline),
        )

    def _take_watched(self, item: JobValues | AihubdError | None, deadline: Deadline) -> JobStatus:
        """Show what the shared stream brought this wait (one ``JobValues`` shared by every wait
        on the job; None: its time ran out); raises the error that ends the wait."""
        if item is None:
            raise self._wait_timeout(deadline)
        if isinstance(item, DaemonUnavailableError):  # the daemon did not come back in time
            self.stale = True  # this view may be out of date now
            raise daemon_unavailable(
                self._connection.socket_path,
                f"the daemon went away during the wait; job {self.job_id} is still "
                f"{self._status.code} as far as it told, wait again once the daemon is back",
            ) from item
        if isinstance(item, AihubdError):
            raise item
        self._adopt(item)
        return self._status

    def _wait_timeout(self, deadline: Deadline) -> TimeoutError:
        return job_timeout(self.job_id, deadline.seconds or 0)

    # download_results

    def _results_directory(self, artifacts_dir: PathArg) -> str:
        """``artifacts_dir`` made absolute, and created."""
        directory = check_output_directory(artifacts_dir)
        os.makedirs(directory, exist_ok=True)
        return directory

    def _left(self, deadline: Deadline) -> float | None:
        """The time left for the next download of ``download_results``; TimeoutError if none."""
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise job_timeout(self.job_id, deadline.seconds or 0, _RESULTS)
        return remaining

    def _results_timeout(self, timeout: float | None) -> TimeoutError:
        return job_timeout(self.job_id, timeout or 0, _RESULTS)

    def _results(self, status: JobStatus, directory: str) -> LinkJobResult:
        return LinkJobResult(status=status, url=self.url, artifacts_dir=directory)

    # plumbing

    def _applied(self, message: pb.Job) -> JobStatus:
        self._apply(message)
        return self._status

    def _call(
        self,
        method: str,
        request: Any,
        timeout: float | None,
        doing: str = "",
        reply: Callable[[Any], R] = as_is,
    ) -> Call[R]:
        """A call bounded by the caller's ``timeout`` (None or 0: none), ``doing`` what."""
        return Call(
            method,
            request,
            timeout=timeout or None,
            on_timeout=self._timeout_factory(timeout, doing),
            reply=reply,
        )

    def _timeout_factory(self, timeout: float | None, doing: str) -> TimeoutFactory | None:
        if not timeout:
            return None
        return lambda: job_timeout(self.job_id, timeout, doing)


class ModelAssembly:
    """A target model read as a stream, put back together: ``add`` each chunk, then ``data()``."""

    def __init__(self, job_id: str) -> None:
        self._job_id = job_id
        self._parts: list[bytes] = []
        self._expected: int | None = None

    def add(self, chunk: ModelChunk) -> None:
        if self._expected is None:
            self._expected = chunk.total_size
        self._parts.append(chunk.data)

    def data(self) -> bytes | None:
        """The model; None when no chunk came (the job failed); InternalError when cut short."""
        if self._expected is None:
            return None
        data = b"".join(self._parts)
        if self._expected and len(data) != self._expected:
            raise InternalError(f"target model of job {self._job_id} truncated: {len(data)} of {self._expected} bytes")
        return data


def model_chunk(message: pb.Chunk) -> ModelChunk:
    """A ReadTargetModel message as the ``ModelChunk`` the caller gets."""
    return ModelChunk(message.data, message.filename, message.total_size)


def _paths(response: pb.DownloadResponse) -> list[str]:
    return list(response.paths)


def _emails(sharing: pb.Sharing) -> list[str]:
    return list(sharing.emails)


def _target_model(message: pb.TargetModel) -> TargetModel | None:
    return TargetModel.from_pb(message) if message.present else None
