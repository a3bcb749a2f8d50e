"""A fake aihubd daemon with canned jobs, for the client tests (served by conftest.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc
from aihubd_client import ReconnectPolicy

# Unit tests do not wait a minute for a daemon that never comes back, nor for the Hub.
FAST_RECONNECT = ReconnectPolicy(window=0.5, stable_after=5.0, first_pause=0.02, max_pause=0.1)
FAST_BACKOFF = (0.01, 0.02, 0.03)
# Reconnect pauses to check on a fake clock (``Clock``): 0.5, 1, 2, 2, ... for 10 seconds.
SLOW_RECONNECT = ReconnectPolicy(window=10.0, stable_after=5.0, first_pause=0.5, max_pause=2.0)

TARGET_FILENAME = "job_target.bin"
CREATED_AT = 1_700_000_000
FAILURE_REASON = "Link failed: graphs are incompatible"


class Clock:
    """A monotonic clock that moves only when a test moves it (``clock.now += seconds``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeJob:
    """A job's current message, the changes WaitJob and WatchJobs will stream, and what it can download."""

    message: pb.Job
    changes: list[tuple[int, str]] = field(default_factory=list)
    hang: bool = False
    chunks: list[bytes] = field(default_factory=list)
    # This many WaitJob (WatchJobs) calls send the current state, then end as a stopping daemon does
    # (a negative number: every call); the calls after that stream normally.
    shutdowns: int = 0


def make_job(job_id: str, state: int = pb.JOB_STATE_CREATED, message: str = "") -> pb.Job:
    job = pb.Job(
        job_id=job_id,
        name="b.dlc",
        state=state,
        message=message,
        device=pb.Device(name="Snapdragon 8 Elite QRD", os="15", attributes=["framework:qnn"]),
        models=[
            pb.ModelRef(model_id="mfd036f75", name="a.dlc"),
            pb.ModelRef(model_id="m26bc5548", name="b.dlc"),
        ],
        options="--foo",
        url=f"https://workbench.example/jobs/{job_id}/",
        # NETRON_VIZ_ARCHIVE is unknown to qai_hub's JobArtifactType: the client drops it.
        available_artifacts=[
            pb.ARTIFACT_TYPE_DEVICE_LOG,
            pb.ARTIFACT_TYPE_HUB_LOG,
            pb.ARTIFACT_TYPE_NETRON_VIZ_ARCHIVE,
        ],
    )
    job.creation_time.seconds = CREATED_AT
    return job


SUCCESS_FLOW = [(pb.JOB_STATE_LINKING_MODELS, ""), (pb.JOB_STATE_DONE, "")]
FAILED_FLOW = [(pb.JOB_STATE_LINKING_MODELS, ""), (pb.JOB_STATE_FAILED, FAILURE_REASON)]
CHUNKS = [b"A" * 1024, b"B" * 1024, b"tail"]


class FakeDaemon(pb_grpc.LinkJobServiceServicer, pb_grpc.DaemonServiceServicer):
    """Canned jobs: jsuccess, jfailed (stream to an end), jhang (never ends), jdone (finished),
    jstop (the daemon stops during every wait), jback (the daemon stops during the first wait,
    then is back and the job succeeds)."""

    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {
            "jsuccess": FakeJob(make_job("jsuccess"), list(SUCCESS_FLOW), chunks=list(CHUNKS)),
            "jfailed": FakeJob(make_job("jfailed"), list(FAILED_FLOW)),
            "jhang": FakeJob(make_job("jhang"), hang=True),
            "jdone": FakeJob(make_job("jdone", pb.JOB_STATE_DONE), chunks=list(CHUNKS)),
            "jstop": FakeJob(make_job("jstop", pb.JOB_STATE_LINKING_MODELS), shutdowns=-1),
            "jback": FakeJob(
                make_job("jback", pb.JOB_STATE_LINKING_MODELS),
                [(pb.JOB_STATE_DONE, "")],
                shutdowns=1,
                chunks=list(CHUNKS),
            ),
        }
        self.sharing: dict[str, list[str]] = {}
        # The job SubmitLinkJob creates next: its id, stream and downloads.
        self.submit_id = "jnew"
        self.submit_changes = list(SUCCESS_FLOW)
        self.submit_hang = False
        self.requests: list[tuple[str, object]] = []
        # Every RPC aborts with this (code, details) when set; ``fail_times`` limits how often.
        self.fail: tuple | None = None
        self.fail_times: int | None = None
        # Jobs whose blocking unary RPCs (downloads, target model) never answer until cancelled.
        self.hang_unary: set[str] = set()
        # Set each time a hanging unary call ends (cancelled or past its deadline).
        self.unary_ended = threading.Event()
        # Called (in the server thread) when a hanging WaitJob has sent everything it will send.
        self.on_hang: Callable[[], None] | None = None
        # Set each time a WaitJob call terminates (completed, cancelled or past its deadline).
        self.wait_ended = threading.Event()

    # LinkJobService

    def SubmitLinkJob(self, request, context):
        self._enter("SubmitLinkJob", request, context)
        message = make_job(self.submit_id)
        del message.models[:]
        for index, model in enumerate(request.models):
            model_id = model.model_id or f"mup{index:06d}"
            message.models.add(model_id=model_id, name=os.path.basename(model.path))
        message.device.name = request.device
        message.name = request.name or (message.models[-1].name if message.models else "")
        message.options = request.options
        message.project_id = request.project_id
        self.jobs[self.submit_id] = FakeJob(
            message, list(self.submit_changes), hang=self.submit_hang, chunks=list(CHUNKS)
        )
        return message

    def GetJob(self, request, context):
        self._enter("GetJob", request, context)
        return self._job(request.job_id, context).message

    def PeekJob(self, request, context):
        self._enter("PeekJob", request, context)
        return self._job(request.job_id, context).message

    def WaitJob(self, request, context):
        self._enter("WaitJob", request, context)
        job = self._job(request.job_id, context)
        ended = threading.Event()
        context.add_callback(ended.set)
        context.add_callback(self.wait_ended.set)
        yield job.message
        if job.shutdowns:
            job.shutdowns -= 1 if job.shutdowns > 0 else 0
            last = pb.Job()
            last.CopyFrom(job.message)
            last.stale = last.daemon_shutting_down = True
            yield last
            return
        for state, reason in job.changes:
            job.message.state = state
            job.message.message = reason
            if state == pb.JOB_STATE_DONE:
                job.message.target_model_id = "mtarget01"
            yield job.message
        job.changes = []
        if job.hang:
            if self.on_hang is not None:
                self.on_hang()
            ended.wait()

    def WatchJobs(self, request, context):
        """A listing of the matching jobs, then each job's canned changes as CHANGED events (one
        job's after another's), then (a hanging job among them) open until cancelled."""
        self._enter("WatchJobs", request, context)
        ended = threading.Event()
        context.add_callback(ended.set)
        context.add_callback(self.wait_ended.set)
        needle = request.name_contains.lower()
        watched = [
            job
            for job_id, job in self.jobs.items()
            if (not request.job_ids or job_id in request.job_ids)
            and (not request.states or job.message.state in request.states)
            and needle in job.message.name.lower()
        ]
        revision = request.since_revision if request.HasField("since_revision") else 1
        if not request.HasField("since_revision"):  # a resumed stream has no listing
            for job in watched:
                yield pb.JobEvent(kind=pb.JOB_EVENT_KIND_SNAPSHOT, revision=revision, job=job.message)
            yield pb.JobEvent(kind=pb.JOB_EVENT_KIND_SNAPSHOT_END, revision=revision)
        for job in watched:
            if job.shutdowns:  # the daemon stops: the stream ends as UNAVAILABLE, resumable
                job.shutdowns -= 1 if job.shutdowns > 0 else 0
                context.abort(grpc.StatusCode.UNAVAILABLE, "aihubd is shutting down; resume the watch once it is back")
        for job in watched:
            for state, reason in job.changes:
                job.message.state = state
                job.message.message = reason
                if state == pb.JOB_STATE_DONE:
                    job.message.target_model_id = "mtarget01"
                revision += 1
                job.message.last_refresh_time.seconds = CREATED_AT + revision  # the daemon learned it later
                yield pb.JobEvent(kind=pb.JOB_EVENT_KIND_CHANGED, revision=revision, job=job.message, changed=["state"])
            job.changes = []
        if any(job.hang for job in watched):
            if self.on_hang is not None:
                self.on_hang()
            ended.wait()

    def RefreshJobs(self, request, context):
        self._enter("RefreshJobs", request, context)
        return pb.RefreshJobsResponse(polled=len(self.jobs), changed=0)

    def DownloadTargetModel(self, request, context):
        self._enter("DownloadTargetModel", request, context)
        job = self._finished(request.job_id, context)
        if job.message.state == pb.JOB_STATE_FAILED:
            return pb.DownloadResponse(state=job.message.state)
        destination = request.destination
        if os.path.isdir(destination):
            destination = os.path.join(destination, TARGET_FILENAME)
        elif not destination.endswith(".bin"):
            destination += ".bin"
        Path(destination).write_bytes(b"".join(job.chunks))
        return pb.DownloadResponse(paths=[destination], state=job.message.state)

    def ReadTargetModel(self, request, context):
        self._enter("ReadTargetModel", request, context)
        job = self._finished(request.job_id, context)
        if job.message.state == pb.JOB_STATE_FAILED:
            return
        total = sum(len(chunk) for chunk in job.chunks)
        for index, data in enumerate(job.chunks):
            if index == 0:
                yield pb.Chunk(data=data, filename=TARGET_FILENAME, total_size=total)
            else:
                yield pb.Chunk(data=data)

    def DownloadJobLogs(self, request, context):
        self._enter("DownloadJobLogs", request, context)
        job = self._finished(request.job_id, context)
        os.makedirs(request.output_dir, exist_ok=True)
        paths = []
        for kind in ("device", "hub"):
            path = os.path.join(request.output_dir, f"{request.job_id}_{kind}.log")
            Path(path).write_text(f"{kind} log\n")
            paths.append(path)
        return pb.DownloadResponse(paths=paths, state=job.message.state)

    def ListJobs(self, request, context):
        self._enter("ListJobs", request, context)
        jobs = [job.message for job in self.jobs.values()]
        if request.states:
            jobs = [job for job in jobs if job.state in request.states]
        needle = request.name_contains.lower()
        jobs = sorted((job for job in jobs if needle in job.name.lower()), key=lambda j: j.job_id)
        limit = request.limit or 50
        page = jobs[request.offset : request.offset + limit]
        return pb.ListJobsResponse(jobs=page, total=len(jobs))

    def TrackJob(self, request, context):
        self._enter("TrackJob", request, context)
        if not request.job_id.startswith("j"):
            context.abort(grpc.StatusCode.NOT_FOUND, f"ID '{request.job_id}' could not be found.")
        job = self.jobs.setdefault(request.job_id, FakeJob(make_job(request.job_id)))
        return job.message

    def UntrackJob(self, request, context):
        self._enter("UntrackJob", request, context)
        return pb.UntrackJobResponse(was_tracked=self.jobs.pop(request.job_id, None) is not None)

    def SetJobName(self, request, context):
        self._enter("SetJobName", request, context)
        job = self._job(request.job_id, context)
        job.message.name = request.name
        return job.message

    def GetSharing(self, request, context):
        self._enter("GetSharing", request, context)
        self._job(request.job_id, context)
        return pb.Sharing(emails=self.sharing.get(request.job_id, []))

    def ModifySharing(self, request, context):
        self._enter("ModifySharing", request, context)
        self._job(request.job_id, context)
        emails = [e for e in self.sharing.get(request.job_id, []) if e not in request.delete_emails]
        emails += [e for e in request.add_emails if e not in emails]
        self.sharing[request.job_id] = emails
        return pb.Sharing(emails=emails)

    def DisableSharing(self, request, context):
        self._enter("DisableSharing", request, context)
        self._job(request.job_id, context)
        self.sharing[request.job_id] = []
        return pb.Sharing()

    def DownloadArtifacts(self, request, context):
        self._enter("DownloadArtifacts", request, context)
        job = self._finished(request.job_id, context)
        if request.artifact_type not in job.message.available_artifacts:
            return pb.DownloadResponse(state=job.message.state)
        os.makedirs(request.output_dir, exist_ok=True)
        name = pb.ArtifactType.Name(request.artifact_type).lower()
        path = os.path.join(request.output_dir, f"{request.job_id}_{name}.txt")
        Path(path).write_text(name)
        return pb.DownloadResponse(paths=[path], state=job.message.state)

    def GetTargetModel(self, request, context):
        self._enter("GetTargetModel", request, context)
        job = self._finished(request.job_id, context)
        if job.message.state == pb.JOB_STATE_FAILED:
            return pb.TargetModel(present=False)
        model = pb.TargetModel(
            present=True,
            model_id="mtarget01",
            name="target",
            model_type=11,
            url="https://workbench.example/models/mtarget01/",
            filename=TARGET_FILENAME,
        )
        model.creation_time.seconds = CREATED_AT + 60
        return model

    # DaemonService

    def GetDaemonInfo(self, request, context):
        self._enter("GetDaemonInfo", request, context)
        return pb.DaemonInfo(
            version="0.1.0",
            hub_url="http://127.0.0.1:1/",
            web_url="http://127.0.0.1:1/web/",
            hub_kind="emulator",
            tracked_jobs=len(self.jobs),
            in_flight_jobs=1,
            hub_reachable=True,
            account_email="dev@example.com",
            cache_bytes=1536,
        )

    # helpers

    def requests_of(self, method: str) -> list:
        return [request for name, request in self.requests if name == method]

    def _enter(self, method: str, request, context) -> None:
        self.requests.append((method, request))
        if self.fail is not None and self.fail_times != 0:
            if self.fail_times is not None:
                self.fail_times -= 1
            context.abort(*self.fail)

    def _job(self, job_id: str, context) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"ID '{job_id}' could not be found.")
        return job

    def _finished(self, job_id: str, context) -> FakeJob:
        """The real daemon blocks until the job ends; the fake jumps to its final state (or, for
        a job in ``hang_unary``, blocks until the call is cancelled or times out)."""
        job = self._job(job_id, context)
        if job_id in self.hang_unary:
            ended = threading.Event()
            context.add_callback(ended.set)
            context.add_callback(self.unary_ended.set)
            if self.on_hang is not None:
                self.on_hang()
            ended.wait()
            context.abort(grpc.StatusCode.CANCELLED, "the call ended")
        for state, reason in job.changes:
            job.message.state, job.message.message = state, reason
            if state == pb.JOB_STATE_DONE:
                job.message.target_model_id = "mtarget01"
        job.changes = []
        return job
