"""``LinkJob``: one link job held by the daemon, with the methods of ``qai_hub.LinkJob``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import datetime

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import InternalError, UserError, daemon_unavailable
from .inputs import PathArg, absolute_path, artifact_type_value, caller_style_path
from .interrupts import deferred_keyboard_interrupt
from .status import JobStatus
from .transport import Connection
from .values import ArtifactType, Device, LinkJobResult, ModelRef, TargetModel

__all__ = ["LinkJob"]


class LinkJob:
    """A link job. Built by ``Client.submit_link_job`` or ``Client.get_job``, not directly.

    The attributes are the daemon's view when the job was last fetched; ``get_status()``,
    ``wait()`` and ``iter_status()`` refresh them.
    """

    job_id: str
    name: str
    date: datetime
    device: Device
    models: list[ModelRef]
    options: str
    project_id: str | None
    target_model_id: str | None
    available_artifacts: list[ArtifactType]
    stale: bool
    last_refresh_time: datetime | None

    def __init__(self, message: pb.Job, connection: Connection) -> None:
        self._connection = connection
        self._url = ""
        self._status = JobStatus(pb.JOB_STATE_UNSPECIFIED)
        self._apply(message)

    def __repr__(self) -> str:
        return f"LinkJob(job_id={self.job_id!r}, name={self.name!r}, status={self._status.code!r})"

    @property
    def url(self) -> str:
        """The job's page on the Hub website."""
        return self._url

    @property
    def last_status(self) -> JobStatus:
        """The status from the last answer of the daemon (no call)."""
        return self._status

    def get_status(self) -> JobStatus:
        """Ask the daemon for the job's current status (one call, never blocks)."""
        with self._connection.errors():
            message = self._connection.jobs.GetJob(pb.GetJobRequest(job_id=self.job_id))
        self._apply(message)
        return self._status

    def iter_status(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Yield the current status, then each change, ending after SUCCESS or FAILED.

        Consumes the daemon's WaitJob stream (no polling). ``timeout`` in seconds (None or 0:
        none) raises ``TimeoutError`` when it passes; closing the generator early, or Ctrl-C,
        cancels the stream and leaves the job alone.
        """
        if self._status.finished:
            yield self._status
            return
        deadline = timeout if timeout else None
        call = None
        try:
            with deferred_keyboard_interrupt():
                call = self._connection.jobs.WaitJob(
                    pb.WaitJobRequest(job_id=self.job_id), timeout=deadline
                )
            for message in call:
                self._apply(message)
                if message.daemon_shutting_down:
                    raise daemon_unavailable(
                        self._connection.socket_path,
                        f"aihubd is shutting down; job {self.job_id} is still "
                        f"{self._status.code}, wait again once the daemon is back",
                    )
                yield self._status
                if self._status.finished:
                    return
        except grpc.RpcError as exc:
            if deadline is not None and exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TimeoutError(
                    f"Waiting for link job ({self.job_id}) completion timed out after "
                    f"{timeout} seconds."
                ) from None
            raise self._connection.translate(exc) from exc
        finally:
            if call is not None:
                call.cancel()
        raise InternalError(f"the daemon ended the wait for job {self.job_id} before it finished")

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job finishes; return its final status (a FAILED job does not raise).

        Raises ``TimeoutError`` when ``timeout`` seconds pass first (None or 0: no timeout).
        """
        status = self._status
        for status in self.iter_status(timeout):
            pass
        return status

    def download_target_model(self, filename: PathArg | None = None) -> bytes | str | None:
        """The target model in memory (``filename`` None) or written to ``filename``.

        ``filename`` may be a directory (the Hub's filename is used, uniquified if taken) or a
        file path (the Hub filename's suffixes are appended when missing). Returns the bytes or
        the path written (relative if ``filename`` was), or None when the job failed. Blocks
        until the job ends.
        """
        if filename is None:
            return self._read_target_model()
        argument = os.path.expanduser(os.fspath(filename))
        destination = absolute_path(argument)
        request = pb.DownloadTargetModelRequest(job_id=self.job_id, destination=destination)
        with self._connection.errors():
            response = self._connection.jobs.DownloadTargetModel(request)
        if not response.paths:
            return None
        return caller_style_path(argument, destination, response.paths[0])

    def download_job_logs(self, output_dir: PathArg) -> list[str]:
        """Device log then Hub log into ``output_dir`` (created); returns the absolute paths.

        Blocks until the job ends.
        """
        request = pb.DownloadJobLogsRequest(
            job_id=self.job_id, output_dir=absolute_path(output_dir)
        )
        with self._connection.errors():
            response = self._connection.jobs.DownloadJobLogs(request)
        return list(response.paths)

    def download_artifacts_for_type(self, output_dir: PathArg, artifact_type: object) -> list[str]:
        """All artifacts of one type into ``output_dir`` (created); ``[]`` when not available.

        ``artifact_type``: an ``ArtifactType``, a ``qai_hub.JobArtifactType``, its int or its name.
        Blocks until the job ends.
        """
        request = pb.DownloadArtifactsRequest(
            job_id=self.job_id,
            output_dir=absolute_path(output_dir),
            artifact_type=artifact_type_value(artifact_type),
        )
        with self._connection.errors():
            response = self._connection.jobs.DownloadArtifacts(request)
        return list(response.paths)

    def download_results(self, artifacts_dir: PathArg) -> LinkJobResult:
        """Logs, then the target model, into ``artifacts_dir`` (created), like ``qai_hub``."""
        directory = absolute_path(artifacts_dir)
        os.makedirs(directory, exist_ok=True)
        self.download_job_logs(directory)
        self.download_target_model(directory)
        return LinkJobResult(status=self.get_status(), url=self.url, artifacts_dir=directory)

    def get_available_artifacts(self) -> list[ArtifactType]:
        """The artifact types available for download; waits for the job to end first."""
        self.wait()
        return list(self.available_artifacts)

    def get_target_model(self) -> TargetModel | None:
        """The target model's description, or None when the job failed. Blocks until the end."""
        with self._connection.errors():
            message = self._connection.jobs.GetTargetModel(
                pb.GetTargetModelRequest(job_id=self.job_id)
            )
        return TargetModel.from_pb(message) if message.present else None

    def set_name(self, job_name: str) -> None:
        """Rename the job on the Hub."""
        request = pb.SetJobNameRequest(job_id=self.job_id, name=job_name)
        with self._connection.errors():
            message = self._connection.jobs.SetJobName(request)
        self._apply(message)

    def get_sharing(self) -> list[str]:
        """The email addresses the job is shared with (read from the Hub)."""
        with self._connection.errors():
            sharing = self._connection.jobs.GetSharing(pb.GetSharingRequest(job_id=self.job_id))
        return list(sharing.emails)

    def modify_sharing(
        self, add_emails: Sequence[str] = (), delete_emails: Sequence[str] = ()
    ) -> None:
        """Share the job (and its models) with more people, or fewer."""
        if not add_emails and not delete_emails:
            raise UserError("Provide at least one email to add or delete.")
        if isinstance(add_emails, str) or isinstance(delete_emails, str):
            raise UserError("add_emails and delete_emails must be lists of emails.")
        request = pb.ModifySharingRequest(
            job_id=self.job_id, add_emails=list(add_emails), delete_emails=list(delete_emails)
        )
        with self._connection.errors():
            self._connection.jobs.ModifySharing(request)

    def disable_sharing(self) -> None:
        """Stop sharing the job with anyone."""
        with self._connection.errors():
            self._connection.jobs.DisableSharing(pb.DisableSharingRequest(job_id=self.job_id))

    def _read_target_model(self) -> bytes | None:
        parts: list[bytes] = []
        expected = 0
        received_any = False
        call = None
        try:
            with deferred_keyboard_interrupt():
                call = self._connection.jobs.ReadTargetModel(
                    pb.ReadTargetModelRequest(job_id=self.job_id)
                )
            for chunk in call:
                if not received_any:
                    expected = chunk.total_size
                    received_any = True
                parts.append(chunk.data)
        except grpc.RpcError as exc:
            raise self._connection.translate(exc) from exc
        finally:
            if call is not None:
                call.cancel()
        if not received_any:
            return None
        data = b"".join(parts)
        if expected and len(data) != expected:
            raise InternalError(
                f"target model of job {self.job_id} truncated: {len(data)} of {expected} bytes"
            )
        return data

    def _apply(self, message: pb.Job) -> None:
        self.job_id = message.job_id
        self.name = message.name
        self.date = datetime.fromtimestamp(message.creation_time.seconds)
        self.device = Device.from_pb(message.device)
        self.models = [ModelRef.from_pb(model) for model in message.models]
        self.options = message.options
        self.project_id = message.project_id or None
        self._url = message.url
        self.target_model_id = message.target_model_id or None
        self.available_artifacts = [
            ArtifactType(value)
            for value in message.available_artifacts
            if value in ArtifactType._value2member_map_
        ]
        self.stale = message.stale
        self.last_refresh_time = (
            datetime.fromtimestamp(message.last_refresh_time.seconds)
            if message.HasField("last_refresh_time")
            else None
        )
        self._status = JobStatus(message.state, message.message)
