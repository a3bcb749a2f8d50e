"""``Client``: the entry point, talking to the aihubd daemon over its Unix socket.

The calls are built in ``client_calls`` (shared with ``AsyncClient``); this class makes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .catalog_calls import (
    get_devices_call,
    get_model_call,
    list_models_call,
    summary_filters,
    upload_model_call,
)
from .channel import Call
from .client_calls import ClientCalls
from .errors import (
    AihubdError,
    DaemonUnavailableError,
    HubUnavailableError,
    InternalError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UserError,
)
from .feed import FeedCursor, JobEvent, iter_feed
from .inputs import ModelArg
from .job import LinkJob
from .kinds import JobType, SourceModelType
from .model import Model
from .status import JobStatus
from .submission import submit_requests
from .transport import Connection
from .values import DaemonInfo, Device, JobArtifactType, LinkJobResult, LinkJobSummary, RefreshResult

# The names scripts reach through ``hub.client.X`` in qai_hub (``except hub.client.UserError``).
__all__ = [
    "AihubdError",
    "Client",
    "DaemonUnavailableError",
    "Device",
    "HubUnavailableError",
    "InternalError",
    "JobArtifactType",
    "JobPage",
    "JobStatus",
    "JobType",
    "LinkJob",
    "LinkJobResult",
    "LinkJobSummary",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "SourceModelType",
    "UserError",
]


@dataclass(frozen=True)
class JobPage:
    """One page of ``Client.list_jobs``: the jobs, newest first, and how many match in all."""

    jobs: list[LinkJob]
    total: int


class Client(ClientCalls["LinkJob", "JobPage"]):
    """A connection to the daemon; use it as a context manager or call ``close()``.

    ``socket`` defaults to ``default_socket_path()`` ($AIHUBD_SOCKET or the user runtime dir).
    Nothing is contacted until the first call. ``reconnect`` says how waits ride out a daemon
    restart; ``submit_backoff`` the pauses between submit attempts while the Hub is unavailable.
    """

    _connection: Connection
    _connection_type = Connection
    _verbose = False
    _job_type = LinkJob
    _page_type = JobPage

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; calls in flight are cancelled (their jobs are not)."""
        self._connection.close()

    def submit_link_job(
        self,
        models: ModelArg | Iterable[ModelArg],
        device: Any,
        name: str | None = None,
        options: str = "",
        project: Any = None,
        *,
        request_id: str | None = None,
    ) -> LinkJob | list[LinkJob]:
        """Submit a link job, like ``qai_hub.Client.submit_link_job``.

        ``models``: one or a list of local ``.dlc`` paths (sent absolute), Hub model ids, or
        objects with a ``model_id`` (``qai_hub.Model``). ``device``: a device name, an object
        with a ``name`` (``qai_hub.Device``), or a list of those (then a list of jobs comes
        back, one per device). ``name`` None: the Hub's default (the last model's name).
        The official checks run first and raise ``UserError``, with nothing sent.
        ``request_id``: idempotency key (default: a fresh UUID); the same key returns the job
        the first attempt created. While the daemon reports the Hub unavailable, the submit is
        retried a few times with that same key.
        """
        requests = submit_requests(models, device, name, options, project, request_id)
        jobs = [self._submit(request) for request in requests]
        return jobs[0] if len(jobs) == 1 else jobs

    def get_job(self, job_id: str, job_type: Any = None) -> LinkJob:
        """The job with this id, as the daemon knows it (never blocks).

        A job the daemon has not seen yet is read from the Hub and tracked from then on.
        ``job_type`` (``qai_hub.JobType``) is accepted for compatibility: only link jobs exist
        here, so any other type raises ``ValueError`` like the official client's mismatch.
        """
        return self._connection.unary(self._get_job_call(job_id, job_type))

    def peek_job(self, job_id: str) -> LinkJob:
        """Like ``get_job``, but a job the daemon does not track is read from the Hub without
        tracking it (``aihubctl status``)."""
        return self._connection.unary(self._peek_job_call(job_id))

    def get_jobs(
        self,
        states: Any = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LinkJob]:
        """Jobs the daemon tracks, newest first.

        ``states``: one state or a list (codes such as ``"SUCCESS"``, ``JobStatus.State`` or
        ``qai_hub.JobStatus.State`` members, wire ints); None: any. ``name``: a
        case-insensitive substring of the job name. ``limit`` at most 1000.
        """
        if limit <= 0:
            return []  # like qai_hub.Client.get_job_summaries
        return self.list_jobs(states, name or "", limit=limit, offset=offset).jobs

    def list_jobs(
        self,
        states: Any = (),
        name_contains: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> JobPage:
        """One page of ``get_jobs``, with the number of jobs that match in all.

        ``limit`` 0: the daemon's default (50).
        """
        return self._connection.unary(self._list_jobs_call(states, name_contains, limit, offset))

    def track_job(self, job_id: str) -> LinkJob:
        """Have the daemon follow a job submitted elsewhere (web UI, the official client)."""
        return self._connection.unary(self._track_job_call(job_id))

    def untrack_job(self, job_id: str) -> bool:
        """Stop following a job (the Hub job is untouched); False if it was not tracked."""
        return self._connection.unary(self._untrack_job_call(job_id))

    def refresh_jobs(self) -> RefreshResult:
        """Have the daemon's poller run one cycle now; returns when it is done."""
        return self._connection.unary(self._refresh_jobs_call())

    def watch_jobs(
        self,
        job_ids: Iterable[str] = (),
        states: Any = None,
        name_contains: str = "",
        *,
        since_revision: int | None = None,
        store_id: str = "",
        relist: bool = True,
        bookmarks: bool = False,
        on_lost: Callable[[AihubdError], None] | None = None,
    ) -> Iterator[JobEvent[LinkJob]]:
        """The daemon's job feed: a listing, then one event per change, until closed.

        Filters: ``job_ids``, ``states`` (as in ``get_jobs``), a ``name_contains`` substring.
        ``since_revision``: no listing, the changes after that revision (of the store
        ``store_id``, from the same event, if given; another store's raises). Rides out daemon
        restarts (``reconnect`` policy) without losing or repeating a change; see ``feed``.
        ``bookmarks``: also yield the daemon's idle-progress events. ``on_lost(error)`` is called
        each time the watch waits for the daemon to come back.
        """
        cursor = FeedCursor(job_ids, states, name_contains, since_revision, relist, self._reconnect, store_id)
        return iter_feed(self._connection, cursor, self._job, bookmarks, on_lost)

    def daemon_info(self) -> DaemonInfo:
        """Version, Hub URL and reachability, account, job counts and cache size of the daemon."""
        return self._connection.unary(self._daemon_info_call())

    # the rest of qai_hub.Client

    def set_verbose(self, verbose: bool = True) -> None:
        """Recorded on the jobs and models this client returns (``verbose``); nothing is printed."""
        self._verbose = verbose

    def get_job_summaries(
        self,
        offset: int = 0,
        limit: int = 50,
        creator: str | None = None,
        state: Any = None,
        type: Any = None,
        project: Any = None,
    ) -> list[LinkJobSummary]:
        """The tracked link jobs, newest first, as ``qai_hub``'s ``LinkJobSummary`` rows.

        ``state``: one ``JobStatus.State`` (this library's or qai_hub's) or a list. ``type``:
        ``JobType.LINK`` or None (other types have no jobs here). ``creator`` and ``project``
        filters are not supported (``UserError``).
        """
        if not summary_filters(creator, type, project) or limit <= 0:
            return []
        jobs = self.list_jobs(state if state is not None else (), "", limit=limit, offset=offset).jobs
        return [
            LinkJobSummary(
                job_id=job.job_id,
                name=job.name,
                date=job.date,
                username="",
                status=job.last_status,
                job_type=JobType.LINK,
                url=job.url,
                device_name=job.device.name or None,
            )
            for job in jobs
        ]

    def get_devices(self, name: str = "", os: str = "", attributes: str | list[str] | None = None) -> list[Device]:
        """The Hub's devices matching every filter (the daemon caches each query for an hour).

        A ``name`` no device has raises ``NotFoundError`` naming the closest real names.
        """
        found = self._connection.unary(get_devices_call(name, os, attributes))
        return [Device(d.name, d.os, tuple(d.attributes)) for d in found]

    def get_device_attributes(self) -> list[str]:
        """Every attribute any device has, sorted (for ``get_devices(attributes=...)``)."""
        return sorted({attribute for device in self.get_devices() for attribute in device.attributes})

    def upload_model(self, model: Any, name: str | None = None, project: Any = None) -> Model:
        """Upload a local ``.dlc`` through the daemon (once per content) and return the ``Model``."""
        return self._model(self._connection.unary(upload_model_call(model, name, project)))

    def get_model(self, model_id: str) -> Model:
        """The Hub model with this id."""
        return self._model(self._connection.unary(get_model_call(model_id)))

    def get_models(self, offset: int = 0, limit: int = 50, project: Any = None) -> list[Model]:
        """The account's models on the Hub, newest first."""
        if limit <= 0:
            return []
        return [self._model(m) for m in self._connection.unary(list_models_call(offset, limit, project))]

    def _model(self, message: pb.HubModel) -> Model:
        return Model(self._connection, message.model_id, message.name, message=message, verbose=self._verbose)

    def _job(self, message: pb.Job) -> LinkJob:
        return LinkJob(message, self._connection, self._reconnect, self._verbose)

    def stop_daemon(self) -> int:
        """Ask the daemon to stop cleanly (as SIGTERM does); returns its pid."""
        call = Call("StopDaemon", pb.StopDaemonRequest(), reply=_pid, service="daemon")
        return int(self._connection.unary(call))

    def _submit(self, request: pb.SubmitLinkJobRequest) -> LinkJob:
        call = self._submit_call(request)
        for pause in self._submit_pauses():
            try:
                return self._connection.unary(call)
            except HubUnavailableError:
                if pause is None:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")


def _pid(response: pb.StopDaemonResponse) -> int:
    return response.pid
