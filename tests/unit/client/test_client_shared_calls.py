"""The parts the blocking and the asyncio twins share, without a daemon: building each call
(request, timeout, what the answer becomes), the wait and download bookkeeping, the channel
checks. Both twins only make these calls; the tests against the fake daemon cover that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from client_fakes import SLOW_RECONNECT, Clock, make_job

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import (
    AihubdError,
    DaemonUnavailableError,
    InternalError,
    ModelChunk,
    RefreshResult,
    TargetModel,
    UserError,
)
from aihubd_client.channel import Call, ConnectionBase, as_is, raise_call_error
from aihubd_client.client_calls import ClientCalls
from aihubd_client.inputs import check_job_id
from aihubd_client.job_calls import JobCalls, ModelAssembly, model_chunk
from aihubd_client.jobview import job_values
from aihubd_client.resume import Deadline, ReconnectPolicy

POLICY = SLOW_RECONNECT


class PathChannel:
    """Stands in for a gRPC channel: each stub method is the RPC's path (nothing is sent)."""

    def unary_unary(self, path: str, **options: Any) -> str:
        return path

    unary_stream = stream_unary = stream_stream = unary_unary


class NoChannel(ConnectionBase):
    """A connection whose channel is a ``PathChannel`` (nothing is contacted)."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__(socket_path)
        self.opened = 0

    def _open(self) -> None:
        self._check_open()
        if self._channel is None:
            self.opened += 1
            self._attach(PathChannel())


class Job(JobCalls):
    def __init__(self, message: pb.Job, socket_path: Path = Path("/run/d.sock")) -> None:
        self._connection = NoChannel(socket_path)
        super().__init__(message, POLICY)


# channel


def test_a_call_defaults_to_the_jobs_service_and_the_answer_as_is():
    call = Call("GetJob", pb.GetJobRequest(job_id="j1"))
    assert (call.service, call.timeout, call.on_timeout) == ("jobs", None, None)
    assert call.reply is as_is
    message = pb.Job(job_id="j1")
    assert call.reply(message) is message


def test_rpc_opens_the_channel_once_and_picks_the_service(tmp_path):
    socket = tmp_path / "d.sock"
    socket.touch()
    connection = NoChannel(socket)
    assert connection.rpc(Call("GetJob", None)) == "/aihubd.v1.LinkJobService/GetJob"
    assert connection.rpc(Call("WaitJob", None)) == "/aihubd.v1.LinkJobService/WaitJob"
    daemon_info = Call("GetDaemonInfo", None, service="daemon")
    assert connection.rpc(daemon_info) == "/aihubd.v1.DaemonService/GetDaemonInfo"
    assert connection.opened == 1


def test_no_socket_file_means_the_daemon_is_unavailable(tmp_path):
    connection = NoChannel(tmp_path / "missing.sock")
    with pytest.raises(DaemonUnavailableError, match="no socket file there") as caught:
        connection.rpc(Call("GetJob", None))
    assert caught.value.socket_path == str(tmp_path / "missing.sock")


@pytest.mark.parametrize("name", ["Client", "AsyncClient"])
def test_a_closed_connection_names_its_client(tmp_path, name):
    socket = tmp_path / "d.sock"
    socket.touch()
    connection = NoChannel(socket)
    connection._client_name = name
    connection._closed = True
    with pytest.raises(AihubdError, match=f"^this aihubd {name} is closed$"):
        connection.rpc(Call("GetJob", None))


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_a_passed_deadline_is_the_callers_timeout_only_when_it_set_one():
    late = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    with pytest.raises(TimeoutError, match="mine") as caught:
        raise_call_error(late, "/s", lambda: TimeoutError("mine"))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(InternalError, match="Deadline Exceeded"):
        raise_call_error(late, "/s", None)


# job calls


def test_job_calls_carry_the_request_and_the_callers_timeout():
    job = Job(make_job("j1"))
    logs = job._download_job_logs_call("logs", 7)
    assert (logs.method, logs.request.job_id, logs.timeout) == ("DownloadJobLogs", "j1", 7)
    assert Path(logs.request.output_dir).is_absolute()
    assert str(logs.on_timeout()) == ("Downloading the logs for link job (j1) timed out after 7 seconds.")
    for no_timeout in (None, 0):
        call = job._get_target_model_call(no_timeout)
        assert (call.method, call.timeout, call.on_timeout) == ("GetTargetModel", None, None)
    stream = job._read_target_model_call(2.5)
    assert (stream.method, stream.request.job_id, stream.timeout) == ("ReadTargetModel", "j1", 2.5)
    assert "Reading the target model for link job (j1)" in str(stream.on_timeout())


def test_job_call_replies_update_the_job_or_build_values():
    job = Job(make_job("j1"))
    status = job._get_status_call().reply(make_job("j1", pb.JOB_STATE_DONE))
    assert status == "SUCCESS" and job.last_status is status
    renamed = make_job("j1")
    renamed.name = "renamed"
    assert job._set_name_call("renamed").reply(renamed) is None
    assert job.name == "renamed" and job._set_name_call("x").request.name == "x"
    assert job._get_sharing_call().reply(pb.Sharing(emails=["a@b.co"])) == ["a@b.co"]
    paths = pb.DownloadResponse(paths=["/x/1", "/x/2"])
    assert job._download_job_logs_call("d", None).reply(paths) == ["/x/1", "/x/2"]
    assert job._download_artifacts_call("d", "hub_log", None).reply(paths) == ["/x/1", "/x/2"]
    assert job._get_target_model_call(None).reply(pb.TargetModel(present=False)) is None
    model = pb.TargetModel(present=True, model_id="mtarget01", filename="t.bin")
    assert isinstance(job._get_target_model_call(None).reply(model), TargetModel)


def test_download_target_model_answers_in_the_callers_style(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = Job(make_job("j1"))
    relative = job._download_target_model_call("out", 3)
    assert relative.request.destination == str(tmp_path / "out")
    written = pb.DownloadResponse(paths=[str(tmp_path / "out" / "t.bin")])
    assert relative.reply(written) == "out/t.bin"
    assert relative.reply(pb.DownloadResponse()) is None  # the job failed
    absolute = job._download_target_model_call(tmp_path / "out", None)
    assert absolute.reply(written) == str(tmp_path / "out" / "t.bin")
    assert "Downloading the target model" in str(relative.on_timeout())


def test_bad_arguments_raise_while_the_call_is_built():
    job = Job(make_job("j1"))
    with pytest.raises(UserError, match="non-empty"):
        job._modify_sharing_call(None, [])
    with pytest.raises(UserError, match="Unknown artifact type"):
        job._download_artifacts_call("d", "NOPE", None)
    call = job._modify_sharing_call(["a@b.co"], None)
    assert (list(call.request.add_emails), list(call.request.delete_emails)) == (["a@b.co"], [])


def test_a_wait_starts_with_a_read_for_the_time_left_and_times_out_when_there_is_none():
    clock = Clock()
    job = Job(make_job("j1"))
    deadline = Deadline(30, clock)
    clock.now += 12
    call = job._wait_start_call(deadline)
    assert (call.method, call.request.job_id, call.timeout) == ("GetJob", "j1", 18)
    assert str(call.on_timeout()) == ("Waiting for link job (j1) completion timed out after 30 seconds.")
    assert job._wait_start_call(Deadline(None, clock)).timeout is None
    clock.now += 18
    with pytest.raises(TimeoutError, match=r"\(j1\) completion timed out after 30 seconds"):
        job._wait_start_call(deadline)


def test_what_the_shared_stream_brings_updates_the_job_or_ends_the_wait():
    clock = Clock()
    job = Job(make_job("j1"), Path("/run/aihubd.sock"))
    deadline = Deadline(30, clock)
    assert job._take_watched(job_values(make_job("j1", pb.JOB_STATE_LINKING_MODELS)), deadline) == "LINKING_MODELS"
    assert job.last_status == "LINKING_MODELS"
    gone = DaemonUnavailableError("aihubd is not running", "/run/aihubd.sock")
    with pytest.raises(DaemonUnavailableError):
        job._take_watched(gone, deadline)
    with pytest.raises(TimeoutError, match=r"\(j1\) completion timed out after 30 seconds"):
        job._take_watched(None, deadline)  # the waiter's queue stayed empty for the time left


def test_download_results_share_one_deadline(tmp_path):
    clock = Clock()
    job = Job(make_job("j1"))
    directory = job._results_directory(tmp_path / "a" / "b")
    assert directory == str(tmp_path / "a" / "b") and Path(directory).is_dir()
    deadline = Deadline(10, clock)
    clock.now += 4
    assert job._left(deadline) == 6
    assert job._left(Deadline(None, clock)) is None
    clock.now += 6
    with pytest.raises(TimeoutError) as caught:
        job._left(deadline)
    assert str(caught.value) == ("Downloading the results for link job (j1) timed out after 10 seconds.")
    assert str(job._results_timeout(2.5)) == ("Downloading the results for link job (j1) timed out after 2.5 seconds.")
    result = job._results(job.last_status, directory)
    assert (result.status, result.url, result.artifacts_dir) == ("CREATED", job.url, directory)


def test_a_streamed_model_is_put_back_together_or_found_cut_short():
    chunks = [ModelChunk(b"ab", "t.bin", 5), ModelChunk(b"cde")]
    whole = ModelAssembly("j1")
    for chunk in chunks:
        whole.add(chunk)
    assert whole.data() == b"abcde"
    assert ModelAssembly("j1").data() is None  # no chunk at all: the job failed
    short = ModelAssembly("j1")
    short.add(chunks[0])
    with pytest.raises(InternalError, match="target model of job j1 truncated: 2 of 5 bytes"):
        short.data()
    unknown_size = ModelAssembly("j1")
    unknown_size.add(ModelChunk(b"xy", "t.bin", 0))
    assert unknown_size.data() == b"xy"
    message = pb.Chunk(data=b"ab", filename="t.bin", total_size=5)
    assert model_chunk(message) == chunks[0]


# client calls


class Page:
    def __init__(self, jobs: list[Any], total: int) -> None:
        self.jobs, self.total = jobs, total


class BuiltJob:
    def __init__(self, message: pb.Job, connection: Any, reconnect: ReconnectPolicy) -> None:
        self.message, self.connection, self.reconnect = message, connection, reconnect


class FakeClient(ClientCalls):
    _connection_type = NoChannel
    _job_type = BuiltJob
    _page_type = Page


def test_a_client_resolves_its_socket_and_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = FakeClient("d.sock", reconnect=POLICY, submit_backoff=[0.1, 0.2])
    assert client.socket_path == tmp_path / "d.sock"
    assert isinstance(client._connection, NoChannel)
    assert client._submit_pauses() == (0.1, 0.2, None)
    assert FakeClient("d.sock", submit_backoff=())._submit_pauses() == (None,)


def test_client_calls_check_job_ids_and_pages_first():
    client = FakeClient("/run/d.sock")
    for build in (
        lambda: client._get_job_call("", None),
        lambda: client._track_job_call(""),
        lambda: client._untrack_job_call(""),
    ):
        with pytest.raises(UserError, match=r"^Invalid job_id: ''$"):
            build()
    with pytest.raises(ValueError, match="Requested job of type compile"):
        client._get_job_call("j1", "compile")
    with pytest.raises(UserError, match="limit and offset must not be negative"):
        client._list_jobs_call((), "", -1, 0)
    with pytest.raises(UserError, match="unknown job status code"):
        client._list_jobs_call(["DONE"], "", 0, 0)


def test_client_call_replies_build_the_twins_jobs_and_values():
    client = FakeClient("/run/d.sock", reconnect=POLICY)
    get = client._get_job_call("j1", "link")
    assert (get.method, get.request.job_id) == ("GetJob", "j1")
    job = get.reply(make_job("j1"))
    assert isinstance(job, BuiltJob)
    assert (job.connection, job.reconnect) == (client._connection, POLICY)
    assert client._track_job_call("j2").reply(make_job("j2")).message.job_id == "j2"
    submit = client._submit_call(pb.SubmitLinkJobRequest(request_id="k"))
    assert submit.method == "SubmitLinkJob" and isinstance(submit.reply(make_job("j3")), BuiltJob)
    listing = client._list_jobs_call(["SUCCESS"], "b.dlc", 5, 2)
    assert (list(listing.request.states), listing.request.name_contains) == ([10], "b.dlc")
    assert (listing.request.limit, listing.request.offset) == (5, 2)
    page = listing.reply(pb.ListJobsResponse(jobs=[make_job("j1"), make_job("j2")], total=7))
    assert [j.message.job_id for j in page.jobs] == ["j1", "j2"] and page.total == 7
    assert client._untrack_job_call("j1").reply(pb.UntrackJobResponse(was_tracked=True)) is True
    refreshed = client._refresh_jobs_call().reply(pb.RefreshJobsResponse(polled=3, changed=1))
    assert refreshed == RefreshResult(polled=3, changed=1)
    info = client._daemon_info_call()
    assert (info.service, info.method) == ("daemon", "GetDaemonInfo")


def test_check_job_id():
    check_job_id("j1")
    with pytest.raises(UserError, match=r"^Invalid job_id: None$"):
        check_job_id(None)  # type: ignore[arg-type]
