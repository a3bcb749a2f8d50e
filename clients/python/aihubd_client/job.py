"""``LinkJob``: one link job held by the daemon, with the methods of ``qai_hub.LinkJob``.

Every method that waits for the job to finish takes an optional ``timeout`` (seconds; None or 0:
none) and raises the builtin ``TimeoutError`` when it passes. Ctrl-C stops the waiting, never
the job. All waits of a client share one daemon stream (``watch_hub``), which rides out a
daemon restart (see ``resume``). The calls are built in ``job_calls``
(shared with ``AsyncLinkJob``); this class makes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .inputs import PathArg
from .job_calls import JobCalls, ModelAssembly, model_chunk
from .model import Model, model_from_target
from .resume import DEFAULT_RECONNECT, Deadline, ReconnectPolicy
from .status import JobStatus
from .transport import Connection
from .values import ArtifactType, LinkJobResult, ModelChunk, ModelRef
from .watch_hub import watch_hub

__all__ = ["LinkJob"]


class LinkJob(JobCalls):
    """A link job. Built by ``Client.submit_link_job``, ``get_job`` or ``get_jobs``.

    The attributes are the daemon's view when the job was last fetched; ``get_status()``,
    ``wait()`` and ``iter_status()`` refresh them.
    """

    _connection: Connection

    def __init__(
        self,
        message: pb.Job,
        connection: Connection,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        verbose: bool = False,
    ) -> None:
        self._connection = connection
        super().__init__(message, reconnect, verbose)

    # status and waiting

    def get_status(self) -> JobStatus:
        """Ask the daemon for the job's current status (one call, never blocks)."""
        return self._connection.unary(self._get_status_call())

    def iter_status(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Yield the current status, then each change, ending after SUCCESS or FAILED.

        Reads the job, then takes its changes from the one WatchJobs stream every wait on this
        client shares (``watch_hub``; no polling). When the daemon stops or dies mid-wait, that
        stream resumes (for up to ``ReconnectPolicy.window`` seconds) and the wait goes on.
        ``timeout`` raises ``TimeoutError``; closing the generator early, or Ctrl-C, ends the
        wait and leaves the job alone.
        """
        if self._status.finished:
            yield self._status
            return
        deadline = Deadline(timeout)
        hub = watch_hub(self._connection, self._reconnect)
        mark = hub.mark()
        seen = self._connection.unary(self._wait_start_call(deadline))
        status = self._applied(seen)
        if status.finished:
            yield status
            return
        shown, said = status.code, status.message  # no tuple per change: less for the GC
        with hub.joined(self.job_id, seen, mark) as waiter:
            yield status
            while not status.finished:
                status = self._take_watched(waiter.get(deadline.remaining()), deadline)
                if status.code != shown or status.message != said:
                    shown, said = status.code, status.message
                    yield status

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
        return self._connection.unary(self._download_target_model_call(filename, timeout))

    def iter_target_model(self, timeout: float | None = None) -> Iterator[ModelChunk]:
        """The target model as chunks of at most 1 MiB; nothing when the job failed.

        The first chunk carries the Hub's filename and the total size (for a progress bar).
        """
        with self._connection.stream(self._read_target_model_call(timeout)) as responses:
            for message in responses:
                yield model_chunk(message)

    def download_job_logs(self, output_dir: PathArg, timeout: float | None = None) -> list[str]:
        """Device log then Hub log into ``output_dir`` (created); returns the absolute paths."""
        return self._connection.unary(self._download_job_logs_call(output_dir, timeout))

    def download_artifacts_for_type(
        self, output_dir: PathArg, artifact_type: Any, timeout: float | None = None
    ) -> list[str]:
        """All artifacts of one type into ``output_dir`` (created; existing files overwritten).

        ``artifact_type``: an ``ArtifactType``, a ``qai_hub.JobArtifactType``, its int or its
        name. Returns the absolute paths, ``[]`` when the type is not available.
        """
        call = self._download_artifacts_call(output_dir, artifact_type, timeout)
        return self._connection.unary(call)

    def download_results(self, artifacts_dir: PathArg, timeout: float | None = None) -> LinkJobResult:
        """Logs, then the target model, into ``artifacts_dir`` (created), like ``qai_hub``."""
        deadline = Deadline(timeout)
        directory = self._results_directory(artifacts_dir)
        try:
            self.download_job_logs(directory, self._left(deadline))
            self.download_target_model(directory, self._left(deadline))
        except TimeoutError:
            raise self._results_timeout(timeout) from None
        return self._results(self.get_status(), directory)

    def get_available_artifacts(self, timeout: float | None = None) -> list[ArtifactType]:
        """The artifact types available for download; waits for the job to end first."""
        self.wait(timeout)
        return list(self.available_artifacts)

    def get_target_model(self, timeout: float | None = None) -> Model | None:
        """The target model (a ``Model``: ``download()``, sharing, ...), or None when the job failed."""
        target = self._connection.unary(self._get_target_model_call(timeout))
        return None if target is None else model_from_target(self._connection, target, self, self.verbose)

    # naming and sharing

    def set_name(self, job_name: str) -> None:
        """Rename the job on the Hub; every client of the daemon sees the new name at once."""
        self._connection.unary(self._set_name_call(job_name))

    def get_sharing(self) -> list[str]:
        """The email addresses the job is shared with (read from the Hub)."""
        return self._connection.unary(self._get_sharing_call())

    def modify_sharing(self, add_emails: list[str] | None = None, delete_emails: list[str] | None = None) -> None:
        """Share the job (and its models) with more people, or fewer.

        Checked like ``qai_hub`` before any call: at least one non-empty list, both lists, and
        each entry shaped like an email address (``UserError`` otherwise).
        """
        self._connection.unary(self._modify_sharing_call(add_emails, delete_emails))

    def disable_sharing(self) -> None:
        """Stop sharing the job with anyone."""
        self._connection.unary(self._disable_sharing_call())

    # plumbing

    def _model(self, ref: ModelRef) -> Model:
        return Model(self._connection, ref.model_id, ref.name, verbose=self.verbose)

    def _read_target_model(self, timeout: float | None) -> bytes | None:
        model = ModelAssembly(self.job_id)
        for chunk in self.iter_target_model(timeout):
            model.add(chunk)
        return model.data()
