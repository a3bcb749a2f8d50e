"""``LinkJob``: one link job held by the daemon, with the methods of ``qai_hub.LinkJob``.

Every method that waits for the job to finish takes an optional ``timeout`` (seconds; None or 0:
none) and raises the builtin ``TimeoutError`` when it passes. Ctrl-C stops the waiting, never
the job. Waits ride out a daemon restart (see ``resume``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

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
from .transport import Connection, TimeoutFactory
from .values import ArtifactType, LinkJobResult, ModelChunk, TargetModel

__all__ = ["LinkJob"]


class LinkJob(JobView):
    """A link job. Built by ``Client.submit_link_job``, ``get_job`` or ``get_jobs``.

    The attributes are the daemon's view when the job was last fetched; ``get_status()``,
    ``wait()`` and ``iter_status()`` refresh them.
    """

    def __init__(
        self,
        message: pb.Job,
        connection: Connection,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    ) -> None:
        self._connection = connection
        self._reconnect = reconnect
        super().__init__(message)

    # status and waiting

    def get_status(self) -> JobStatus:
        """Ask the daemon for the job's current status (one call, never blocks)."""
        message = self._unary("GetJob", pb.GetJobRequest(job_id=self.job_id))
        self._apply(message)
        return self._status

    def iter_status(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Yield the current status, then each change, ending after SUCCESS or FAILED.

        Consumes the daemon's WaitJob stream (no polling). When the daemon stops or dies
        mid-wait, reconnects (for up to ``ReconnectPolicy.window`` seconds) and goes on.
        ``timeout`` raises ``TimeoutError``; closing the generator early, or Ctrl-C, cancels the
        stream and leaves the job alone.
        """
        if self._status.finished:
            yield self._status
            return
        deadline = Deadline(timeout)
        outage = Outage(self._reconnect)
        shown: tuple[str, str] | None = None
        while True:
            try:
                for status in self._stream_once(deadline, outage):
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
                    time.sleep(remaining)
                    raise self._wait_timeout(deadline) from None
                time.sleep(pause)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job finishes; return its final status (a FAILED job does not raise).

        Raises ``TimeoutError`` when ``timeout`` seconds pass first (None or 0: no timeout).
        """
        for _ in self.iter_status(timeout):
            pass
        return self._status

    # downloads and results (each blocks until the job has finished)

    def download_target_model(
        self, filename: PathArg | None = None, timeout: float | None = None
    ) -> bytes | str | None:
        """The target model in memory (``filename`` None) or written to ``filename``.

        ``filename`` may be a directory (the Hub's filename is used, uniquified if taken) or a
        file path (the Hub filename's suffixes are appended when missing; an existing file is
        overwritten). Returns the bytes or the path written (relative if ``filename`` was), or
        None when the job failed.
        """
        if filename is None:
            return self._read_target_model(timeout)
        argument = os.path.expanduser(os.fspath(filename))
        destination = absolute_path(argument)
        request = pb.DownloadTargetModelRequest(job_id=self.job_id, destination=destination)
        response = self._unary(
            "DownloadTargetModel", request, timeout, "Downloading the target model"
        )
        if not response.paths:
            return None
        return caller_style_path(argument, destination, response.paths[0])

    def iter_target_model(self, timeout: float | None = None) -> Iterator[ModelChunk]:
        """The target model as chunks of at most 1 MiB; nothing when the job failed.

        The first chunk carries the Hub's filename and the total size (for a progress bar).
        """
        request = pb.ReadTargetModelRequest(job_id=self.job_id)
        with self._connection.stream(
            self._connection.jobs.ReadTargetModel,
            request,
            timeout=timeout or None,
            on_timeout=self._timeout_factory(timeout, "Reading the target model"),
        ) as call:
            for chunk in call:
                yield ModelChunk(chunk.data, chunk.filename, chunk.total_size)

    def download_job_logs(self, output_dir: PathArg, timeout: float | None = None) -> list[str]:
        """Device log then Hub log into ``output_dir`` (created); returns the absolute paths."""
        request = pb.DownloadJobLogsRequest(
            job_id=self.job_id, output_dir=absolute_path(output_dir)
        )
        response = self._unary("DownloadJobLogs", request, timeout, "Downloading the logs")
        return list(response.paths)

    def download_artifacts_for_type(
        self, output_dir: PathArg, artifact_type: Any, timeout: float | None = None
    ) -> list[str]:
        """All artifacts of one type into ``output_dir`` (created; existing files overwritten).

        ``artifact_type``: an ``ArtifactType``, a ``qai_hub.JobArtifactType``, its int or its
        name. Returns the absolute paths, ``[]`` when the type is not available.
        """
        request = pb.DownloadArtifactsRequest(
            job_id=self.job_id,
            output_dir=absolute_path(output_dir),
            artifact_type=artifact_type_value(artifact_type),
        )
        response = self._unary("DownloadArtifacts", request, timeout, "Downloading artifacts")
        return list(response.paths)

    def download_results(
        self, artifacts_dir: PathArg, timeout: float | None = None
    ) -> LinkJobResult:
        """Logs, then the target model, into ``artifacts_dir`` (created), like ``qai_hub``."""
        deadline = Deadline(timeout)
        directory = absolute_path(artifacts_dir)
        os.makedirs(directory, exist_ok=True)
        try:
            self.download_job_logs(directory, self._left(deadline))
            self.download_target_model(directory, self._left(deadline))
        except TimeoutError:
            raise job_timeout(self.job_id, timeout or 0, "Downloading the results") from None
        return LinkJobResult(status=self.get_status(), url=self.url, artifacts_dir=directory)

    def get_available_artifacts(self, timeout: float | None = None) -> list[ArtifactType]:
        """The artifact types available for download; waits for the job to end first."""
        self.wait(timeout)
        return list(self.available_artifacts)

    def get_target_model(self, timeout: float | None = None) -> TargetModel | None:
        """The target model's description, or None when the job failed."""
        request = pb.GetTargetModelRequest(job_id=self.job_id)
        message = self._unary("GetTargetModel", request, timeout)
        return TargetModel.from_pb(message) if message.present else None

    # naming and sharing

    def set_name(self, job_name: str) -> None:
        """Rename the job on the Hub; every client of the daemon sees the new name at once."""
        message = self._unary("SetJobName", pb.SetJobNameRequest(job_id=self.job_id, name=job_name))
        self._apply(message)

    def get_sharing(self) -> list[str]:
        """The email addresses the job is shared with (read from the Hub)."""
        sharing = self._unary("GetSharing", pb.GetSharingRequest(job_id=self.job_id))
        return list(sharing.emails)

    def modify_sharing(
        self, add_emails: list[str] | None = None, delete_emails: list[str] | None = None
    ) -> None:
        """Share the job (and its models) with more people, or fewer.

        Checked like ``qai_hub`` before any call: at least one non-empty list, both lists, and
        each entry shaped like an email address (``UserError`` otherwise).
        """
        add, delete = check_sharing_change(add_emails, delete_emails)
        request = pb.ModifySharingRequest(job_id=self.job_id, add_emails=add, delete_emails=delete)
        self._unary("ModifySharing", request)

    def disable_sharing(self) -> None:
        """Stop sharing the job with anyone."""
        self._unary("DisableSharing", pb.DisableSharingRequest(job_id=self.job_id))

    # plumbing

    def _stream_once(self, deadline: Deadline, outage: Outage) -> Iterator[JobStatus]:
        """One WaitJob stream; returns at a terminal state, raises when the daemon goes away."""
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise self._wait_timeout(deadline)
        with self._connection.stream(
            self._connection.jobs.WaitJob,
            pb.WaitJobRequest(job_id=self.job_id),
            timeout=remaining,
            on_timeout=lambda: self._wait_timeout(deadline),
        ) as call:
            first = True
            for message in call:
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

    def _read_target_model(self, timeout: float | None) -> bytes | None:
        parts: list[bytes] = []
        expected = None
        for chunk in self.iter_target_model(timeout):
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

    def _unary(
        self, method: str, request: Any, timeout: float | None = None, doing: str = ""
    ) -> Any:
        return self._connection.unary(
            getattr(self._connection.jobs, method),
            request,
            timeout=timeout or None,
            on_timeout=self._timeout_factory(timeout, doing),
        )

    def _timeout_factory(self, timeout: float | None, doing: str) -> TimeoutFactory | None:
        if not timeout:
            return None
        return lambda: job_timeout(self.job_id, timeout, doing)

    def _wait_timeout(self, deadline: Deadline) -> TimeoutError:
        return job_timeout(self.job_id, deadline.seconds or 0)

    def _left(self, deadline: Deadline) -> float | None:
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise job_timeout(self.job_id, deadline.seconds or 0, "Downloading the results")
        return remaining
