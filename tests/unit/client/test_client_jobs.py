"""Client and LinkJob against a real gRPC server on a Unix socket."""

from __future__ import annotations

import _thread
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from client_fakes import CHUNKS, CREATED_AT, FAILURE_REASON, FAST_RECONNECT, TARGET_FILENAME

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import (
    ArtifactType,
    Client,
    DaemonInfo,
    DaemonUnavailableError,
    Device,
    HubUnavailableError,
    InternalError,
    JobArtifactType,
    JobStatus,
    LinkJob,
    Model,
    ModelChunk,
    SourceModelType,
    UserError,
)
from aihubd_client.socket_path import SOCKET_ENV


class NamedDevice:
    """Stands in for qai_hub.Device: only ``name`` is read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.os = "15"


# submit_link_job: inputs


def test_submit_sends_absolute_paths_and_returns_the_job(client, fake, workdir):
    job = client.submit_link_job(["a.dlc", "./sub/../b.dlc"], device="Dev X", name="myjob")
    (request,) = fake.requests_of("SubmitLinkJob")
    assert [model.path for model in request.models] == [str(workdir / "a.dlc"), str(workdir / "b.dlc")]
    assert request.device == "Dev X"
    assert (request.name, request.options, request.project_id) == ("myjob", "", "")
    assert isinstance(job, LinkJob)
    assert job.job_id == "jnew" and job.name == "myjob"
    assert job.get_status() == "CREATED"


def test_submit_sends_a_fresh_idempotency_key_unless_given(client, fake, workdir):
    client.submit_link_job("a.dlc", "D")
    client.submit_link_job("a.dlc", "D")
    client.submit_link_job("a.dlc", "D", request_id="retry-key-1")
    keys = [request.request_id for request in fake.requests_of("SubmitLinkJob")]
    assert len(keys[0]) == 32 and keys[0] != keys[1]
    assert keys[2] == "retry-key-1"


def test_submit_single_path_expands_home(client, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    client.submit_link_job("~/x.dlc", device=NamedDevice("Dev A"), options="--foo", project="p1")
    (request,) = fake.requests_of("SubmitLinkJob")
    assert [model.path for model in request.models] == [str(tmp_path / "x.dlc")]
    assert (request.device, request.options, request.project_id) == ("Dev A", "--foo", "p1")
    assert request.name == ""


def test_submit_sends_hub_model_ids_and_model_objects(client, fake, workdir):
    class HubModel:
        model_id = "mobject01"

    client.submit_link_job(["mfd036f75", HubModel(), Path("b.dlc")], device="D")
    (request,) = fake.requests_of("SubmitLinkJob")
    sources = [model.WhichOneof("source") for model in request.models]
    assert sources == ["model_id", "model_id", "path"]
    assert request.models[0].model_id == "mfd036f75"
    assert request.models[1].model_id == "mobject01"
    assert request.models[2].path == str(workdir / "b.dlc")


def test_a_local_file_named_like_a_model_id_is_a_path(client, fake, workdir):
    (workdir / "mlocal0001").write_bytes(b"x")
    with pytest.raises(UserError, match=re.escape("mlocal0001 is not a QNN DLC model (.dlc)")):
        client.submit_link_job(["mlocal0001"], device="D")
    assert fake.requests == []


class TypedModel:
    """Stands in for qai_hub.Model: an id and a model type."""

    def __init__(self, model_id: str, model_type: object) -> None:
        self.model_id = model_id
        self.model_type = model_type


@pytest.mark.parametrize(
    ("models", "device", "match"),
    [
        ([], "D", "A link job takes at least one input model."),
        (["a.dlc", "model.onnx"], "D", "model.onnx is not a QNN DLC model (.dlc)"),
        ("model.tflite", "D", "model.tflite is not a QNN DLC model (.dlc)"),
        ([TypedModel("monnx0001", 4)], "D", "Input model must be a QNN DLC model."),
        ([None], "D", "Model passed in was 'None'"),
        (None, "D", "Model passed in was 'None'"),
        (["a.dlc", "./a.dlc"], "D", "All input models to a link job must be distinct."),
        (["a.dlc", Path("a.dlc")], "D", "All input models to a link job must be distinct."),
        (["mfd036f75", TypedModel("mfd036f75", 15)], "D", "All input models to a link job must be distinct."),
        (["a.dlc"], "", "device name"),
        (["a.dlc"], object(), "device name"),
        (["a.dlc"], [], "At least one device"),
    ],
)
def test_submit_rejects_bad_input_before_calling(client, fake, workdir, models, device, match):
    with pytest.raises(UserError) as caught:
        client.submit_link_job(models, device=device)
    assert match in str(caught.value)
    assert fake.requests == []


def test_official_model_objects_are_checked_by_type(client, fake):
    import qai_hub

    dlc = TypedModel("mdlc00001", qai_hub.SourceModelType.QNN_DLC)
    client.submit_link_job([dlc, TypedModel("mdlc00002", 15)], device="D")
    assert [m.model_id for m in fake.requests_of("SubmitLinkJob")[0].models] == ["mdlc00001", "mdlc00002"]
    with pytest.raises(UserError, match="QNN DLC"):
        client.submit_link_job([TypedModel("monnx0001", qai_hub.SourceModelType.ONNX)], device="D")


def test_submit_to_several_devices_returns_one_job_each(client, fake, workdir):
    jobs = client.submit_link_job("a.dlc", ["Dev A", NamedDevice("Dev B")], request_id="key")
    assert isinstance(jobs, list) and len(jobs) == 2
    requests = fake.requests_of("SubmitLinkJob")
    assert [(r.device, r.request_id) for r in requests] == [("Dev A", "key-0"), ("Dev B", "key-1")]
    single = client.submit_link_job("a.dlc", ["Dev A"])
    assert isinstance(single, LinkJob)  # like qai_hub: one device, one job


def test_submit_retries_hub_trouble_with_the_same_request_id(client, fake, workdir):
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "cannot reach the Hub (503)")
    fake.fail_times = 2
    job = client.submit_link_job("a.dlc", "D")
    assert job.job_id == "jnew"
    keys = [request.request_id for request in fake.requests_of("SubmitLinkJob")]
    assert len(keys) == 3 and len(set(keys)) == 1


def test_submit_gives_up_after_the_backoff(client, fake, workdir):
    fake.fail = (grpc.StatusCode.UNAVAILABLE, "cannot reach the Hub (503)")
    with pytest.raises(HubUnavailableError, match="cannot reach the Hub"):
        client.submit_link_job("a.dlc", "D")
    assert len(fake.requests_of("SubmitLinkJob")) == 4  # the first attempt and three retries


@pytest.mark.parametrize(
    ("code", "details", "error"),
    [
        (grpc.StatusCode.UNAVAILABLE, "aihubd is shutting down", DaemonUnavailableError),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad", UserError),
        (grpc.StatusCode.INTERNAL, "bug", InternalError),
    ],
)
def test_submit_does_not_retry_other_errors(client, fake, workdir, code, details, error):
    fake.fail = (code, details)
    with pytest.raises(error):
        client.submit_link_job("a.dlc", "D")
    assert len(fake.requests_of("SubmitLinkJob")) == 1


# LinkJob fields and get_status


def test_get_job_exposes_the_official_fields(client):
    job = client.get_job("jsuccess")
    assert job.job_id == "jsuccess"
    assert job.name == "b.dlc"
    assert job.date == datetime.fromtimestamp(CREATED_AT)
    assert job.device == Device("Snapdragon 8 Elite QRD", "15", ("framework:qnn",))
    assert [(m.model_id, m.name) for m in job.models] == [("mfd036f75", "a.dlc"), ("m26bc5548", "b.dlc")]
    assert all(isinstance(m, Model) for m in job.models)
    assert job.options == "--foo"
    assert job.project_id is None
    assert job.url == "https://workbench.example/jobs/jsuccess/"
    assert job.target_model_id is None
    assert job.available_artifacts == [ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG]  # NETRON dropped
    assert job.last_status == "CREATED"


def test_get_status_is_one_unary_call(client, fake):
    job = client.get_job("jfailed")
    fake.jobs["jfailed"].message.state = pb.JOB_STATE_FAILED
    fake.jobs["jfailed"].message.message = FAILURE_REASON
    before = len(fake.requests)
    status = job.get_status()
    assert [name for name, _ in fake.requests[before:]] == ["GetJob"]
    assert status == "FAILED" and status.message == FAILURE_REASON
    assert job.last_status is status


# wait and iter_status


def test_wait_returns_the_final_status_from_the_stream(client, fake):
    job = client.get_job("jsuccess")
    status = job.wait()
    assert isinstance(status, JobStatus)
    assert status == "SUCCESS" and status.success and status.finished
    assert job.target_model_id == "mtarget01"
    assert fake.requests_of("GetJob") and len(fake.requests_of("WatchJobs")) == 1


def test_wait_on_a_failed_job_returns_failed_without_raising(client):
    status = client.get_job("jfailed").wait(timeout=30)
    assert status == "FAILED"
    assert status.message == FAILURE_REASON


def test_iter_status_yields_each_state_in_order(client):
    codes = [status.code for status in client.get_job("jsuccess").iter_status()]
    assert codes == ["CREATED", "LINKING_MODELS", "SUCCESS"]


def test_finished_job_is_not_waited_for_again(client, fake):
    job = client.get_job("jdone")
    assert job.wait() == "SUCCESS"
    assert fake.requests_of("WatchJobs") == []


@pytest.mark.timeout(30)
def test_wait_timeout_fires_at_the_deadline(client, fake):
    job = client.get_job("jhang")
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        job.wait(timeout=0.5)
    elapsed = time.monotonic() - started
    assert str(caught.value) == "Waiting for link job (jhang) completion timed out after 0.5 seconds."
    assert 0.45 <= elapsed < 5.0
    assert fake.wait_ended.wait(20)


def test_wait_gives_up_when_a_stopped_daemon_does_not_come_back(client, fake):
    job = client.get_job("jstop")
    started = time.monotonic()
    with pytest.raises(DaemonUnavailableError, match="job jstop is still LINKING_MODELS"):
        job.wait()
    assert 0.5 <= time.monotonic() - started < 5  # the client's reconnect window
    assert job.stale
    assert len(fake.requests_of("WatchJobs")) > 2  # it did try again


def test_wait_resumes_when_the_daemon_is_back(client, fake):
    job = client.get_job("jback")
    statuses = list(job.iter_status())
    assert statuses == ["LINKING_MODELS", "SUCCESS"]  # the state seen again is not repeated
    assert len(fake.requests_of("WatchJobs")) == 2
    assert fake.requests_of("WatchJobs")[1].HasField("since_revision")  # resumed, not listed again
    assert job.wait() == "SUCCESS" and not job.stale


def test_wait_without_a_daemon_fails_at_once(socket_dir):
    with Client(socket_dir / "none.sock", reconnect=FAST_RECONNECT) as nowhere:
        job = LinkJob(pb.Job(job_id="jx", state=pb.JOB_STATE_CREATED), nowhere._connection)
        started = time.monotonic()
        with pytest.raises(DaemonUnavailableError, match="aihubd serve"):
            job.wait()
        assert time.monotonic() - started < 0.5  # never connected: nothing to resume


@pytest.mark.timeout(30)
def test_closing_iter_status_early_cancels_the_stream(client, fake):
    streaming = threading.Event()
    fake.on_hang = streaming.set  # the shared stream has sent everything and stays open
    statuses = client.get_job("jhang").iter_status()
    assert next(statuses) == "CREATED"
    assert streaming.wait(20)
    statuses.close()  # the last wait leaves: the shared stream is cancelled
    assert fake.wait_ended.wait(20)


@pytest.mark.timeout(30)
def test_ctrl_c_during_wait_cancels_the_stream_and_reraises(client, fake):
    job = client.get_job("jhang")
    fake.on_hang = _thread.interrupt_main  # the server "presses Ctrl-C" once the client waits
    with pytest.raises(KeyboardInterrupt):
        job.wait()
    assert fake.wait_ended.wait(20)
    assert client.get_job("jhang").last_status == "CREATED"  # the job is untouched


# downloads


def test_download_to_memory_joins_the_chunks(client, fake):
    data = client.get_job("jsuccess").download_target_model()
    assert data == b"".join(CHUNKS)
    assert len(fake.requests_of("ReadTargetModel")) == 1


def test_download_of_a_failed_job_is_none(client, workdir):
    job = client.get_job("jfailed")
    assert job.download_target_model() is None
    assert job.download_target_model("out.bin") is None


def test_download_into_relative_directory_returns_relative_path(client, fake, workdir):
    (workdir / "out").mkdir()
    path = client.get_job("jsuccess").download_target_model("out")
    (request,) = fake.requests_of("DownloadTargetModel")
    assert request.destination == str(workdir / "out")
    assert path == os.path.join("out", TARGET_FILENAME)
    assert Path(path).read_bytes() == b"".join(CHUNKS)


def test_download_to_relative_file_keeps_the_argument_style(client, fake, workdir):
    (workdir / "out").mkdir()
    path = client.get_job("jsuccess").download_target_model("out/model")
    assert fake.requests_of("DownloadTargetModel")[0].destination == str(workdir / "out" / "model")
    assert path == "out/model.bin"
    assert (workdir / "out" / "model.bin").exists()


def test_download_to_absolute_path_returns_absolute(client, workdir):
    path = client.get_job("jsuccess").download_target_model(workdir / "abs.bin")
    assert path == str(workdir / "abs.bin")


def test_download_job_logs_sends_and_returns_absolute_paths(client, fake, workdir):
    paths = client.get_job("jsuccess").download_job_logs("logs")
    assert fake.requests_of("DownloadJobLogs")[0].output_dir == str(workdir / "logs")
    logs = workdir / "logs"
    assert paths == [str(logs / "jsuccess_device.log"), str(logs / "jsuccess_hub.log")]


# client plumbing


def test_daemon_info_and_refresh(client):
    info = client.daemon_info()
    assert isinstance(info, DaemonInfo)
    assert (info.version, info.hub_kind, info.tracked_jobs) == ("0.1.0", "emulator", 6)
    assert (info.hub_reachable, info.account_email) == (True, "dev@example.com")
    assert info.cache_bytes == 1536
    assert client.refresh_jobs().polled == 6


def test_default_socket_comes_from_the_environment(socket_path, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, str(socket_path))
    with Client() as client:
        assert client.socket_path == socket_path
        assert client.get_job("jdone").last_status == "SUCCESS"


def test_relative_socket_argument_is_made_absolute(socket_path, monkeypatch):
    monkeypatch.chdir(socket_path.parent)
    with Client(socket_path.name) as client:
        assert client.socket_path == socket_path
        assert client.get_job("jdone").job_id == "jdone"


def test_ctrl_c_while_a_call_starts_is_raised_after_the_block():
    from aihubd_client.interrupts import deferred_keyboard_interrupt

    reached_end = False
    with pytest.raises(KeyboardInterrupt):
        with deferred_keyboard_interrupt():
            _thread.interrupt_main()
            reached_end = True
    assert reached_end


# the rest of qai_hub.LinkJob, and job bookkeeping


def test_set_name_updates_the_job(client, fake):
    job = client.get_job("jdone")
    assert job.set_name("renamed") is None
    assert job.name == "renamed"
    assert fake.requests_of("SetJobName")[0].name == "renamed"


def test_sharing_round_trip(client):
    job = client.get_job("jdone")
    assert job.get_sharing() == []
    job.modify_sharing(add_emails=["a@x.com", "b@x.com"])
    job.modify_sharing(delete_emails=["a@x.com"])
    assert job.get_sharing() == ["b@x.com"]
    job.disable_sharing()
    assert job.get_sharing() == []


@pytest.mark.parametrize(
    ("add", "delete", "message"),
    [
        ([], [], "Either add_emails or delete_emails must be specified and non-empty"),
        ((), (), "Either add_emails or delete_emails must be specified and non-empty"),
        (None, None, "Either add_emails or delete_emails must be specified and non-empty"),
        ("a@x.com", [], "add_emails and delete_emails must both be lists"),
        ([], ("a@x.com",), "add_emails and delete_emails must both be lists"),
        (["a@x.com", "not-an-email"], [], "'not-an-email' is not an email address."),
        ([], ["a@x"], "'a@x' is not an email address."),
        ([7], [], "7 is not an email address."),
    ],
)
def test_modify_sharing_checks_its_arguments_first(client, fake, add, delete, message):
    job = client.get_job("jdone")
    with pytest.raises(UserError) as caught:
        job.modify_sharing(add_emails=add, delete_emails=delete)
    assert str(caught.value) == message
    assert fake.requests_of("ModifySharing") == []


def test_artifacts_by_type_accept_official_enums_ints_and_names(client, fake, workdir):
    import qai_hub

    job = client.get_job("jsuccess")
    assert job.get_available_artifacts() == [ArtifactType.DEVICE_LOG, ArtifactType.HUB_LOG]
    (hub_log,) = job.download_artifacts_for_type("arts", qai_hub.JobArtifactType.HUB_LOG)
    assert hub_log == str(workdir / "arts" / "jsuccess_artifact_type_hub_log.txt")
    assert job.download_artifacts_for_type("arts", "device_log") != []
    assert job.download_artifacts_for_type("arts", 6) == []  # not available: no files
    sent = [request.artifact_type for request in fake.requests_of("DownloadArtifacts")]
    assert sent == [5, 1, 6]
    with pytest.raises(UserError, match="Unknown artifact type"):
        job.download_artifacts_for_type("arts", "NOPE")


def test_get_target_model_and_failed_job(client):
    job = client.get_job("jsuccess")
    model = job.get_target_model()
    assert isinstance(model, Model)  # like qai_hub.Model, not a bare description
    assert (model.model_id, model.model_type) == ("mtarget01", SourceModelType.QNN_CONTEXT_BINARY)
    assert model.date == datetime.fromtimestamp(CREATED_AT + 60)
    assert model.get_producer() is job
    assert client.get_job("jfailed").get_target_model() is None


def test_download_results_like_the_official_client(client, workdir):
    result = client.get_job("jsuccess").download_results("results")
    assert result.status == "SUCCESS"
    assert result.artifacts_dir == str(workdir / "results")
    assert result.url.endswith("/jobs/jsuccess/")
    names = sorted(path.name for path in (workdir / "results").iterdir())
    assert names == sorted([TARGET_FILENAME, "jsuccess_device.log", "jsuccess_hub.log"])


def test_list_jobs_filters_by_state_code_and_name(client, fake):
    page = client.list_jobs(states=["SUCCESS", pb.JOB_STATE_LINKING_MODELS], name_contains="B.DLC")
    assert [job.job_id for job in page.jobs] == ["jback", "jdone", "jstop"]
    assert page.total == 3
    assert list(fake.requests_of("ListJobs")[0].states) == [10, 100]
    with pytest.raises(UserError, match="unknown job status code"):
        client.list_jobs(states=["DONE"])


def test_track_and_untrack(client):
    job = client.track_job("jelsewhere")
    assert job.job_id == "jelsewhere" and job.last_status == "CREATED"
    assert client.untrack_job("jelsewhere") is True
    assert client.untrack_job("jelsewhere") is False


def test_get_jobs_is_the_official_shape(client, fake):
    import qai_hub

    jobs = client.get_jobs(states=qai_hub.JobStatus.State.SUCCESS, name="b.dlc", limit=5, offset=0)
    assert [job.job_id for job in jobs] == ["jdone"] and isinstance(jobs[0], LinkJob)
    (request,) = fake.requests_of("ListJobs")
    assert (list(request.states), request.name_contains, request.limit) == ([10], "b.dlc", 5)
    assert client.get_jobs(states=JobStatus("FAILED")) == []
    assert [j.job_id for j in client.get_jobs(limit=2, offset=1)] == ["jdone", "jfailed"]
    assert client.get_jobs(limit=0) == []  # like qai_hub: no call at all
    assert len(fake.requests_of("ListJobs")) == 3


def test_get_available_artifacts_are_official_enum_values(client):
    import qai_hub

    kinds = client.get_job("jsuccess").get_available_artifacts()
    assert [kind.value for kind in kinds] == [
        qai_hub.JobArtifactType.DEVICE_LOG.value,
        qai_hub.JobArtifactType.HUB_LOG.value,
    ]
    assert [kind.name for kind in kinds] == ["DEVICE_LOG", "HUB_LOG"]
    assert JobArtifactType is ArtifactType
    assert {kind.name for kind in ArtifactType} == {kind.name for kind in qai_hub.JobArtifactType}


def test_iter_target_model_names_the_file_first(client):
    chunks = list(client.get_job("jsuccess").iter_target_model())
    assert all(isinstance(chunk, ModelChunk) for chunk in chunks)
    assert (chunks[0].filename, chunks[0].total_size) == (TARGET_FILENAME, sum(map(len, CHUNKS)))
    assert [chunk.data for chunk in chunks] == CHUNKS
    assert list(client.get_job("jfailed").iter_target_model()) == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda job, t: job.download_target_model(timeout=t), "Reading the target model for link job (jsuccess)"),
        (
            lambda job, t: job.download_target_model("out.bin", timeout=t),
            "Downloading the target model for link job (jsuccess)",
        ),
        (lambda job, t: job.download_job_logs("logs", timeout=t), "Downloading the logs for link job (jsuccess)"),
        (lambda job, t: job.download_artifacts_for_type("a", "HUB_LOG", timeout=t), "Downloading artifacts"),
        (lambda job, t: job.get_target_model(timeout=t), "link job (jsuccess)"),
        (lambda job, t: job.download_results("results", timeout=t), "link job (jsuccess)"),
    ],
)
def test_blocking_calls_time_out_and_cancel_the_call(client, fake, workdir, call, words):
    fake.hang_unary.add("jsuccess")
    job = client.get_job("jsuccess")
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        call(job, 0.3)
    assert 0.25 <= time.monotonic() - started < 5
    assert words in str(caught.value) and "timed out after 0.3 seconds." in str(caught.value)
    assert fake.unary_ended.wait(20)  # the daemon saw the call end


@pytest.mark.timeout(30)
def test_ctrl_c_during_a_blocking_download_cancels_the_call(client, fake, workdir):
    fake.hang_unary.add("jsuccess")
    fake.on_hang = _thread.interrupt_main
    job = client.get_job("jsuccess")
    with pytest.raises(KeyboardInterrupt):
        job.download_job_logs("logs")
    assert fake.unary_ended.wait(20)  # the daemon saw the call end
    assert client.get_job("jsuccess").last_status == "CREATED"  # the job is untouched


@pytest.mark.timeout(30)
def test_wait_survives_the_daemon_dying_and_coming_back(fake, running, socket_path):
    """The stream breaks (no clean shutdown message); a new daemon appears on the same socket."""
    from concurrent import futures

    from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc
    from aihubd_client import ReconnectPolicy

    servers = []

    def die_and_come_back() -> None:
        running.server.stop(grace=None).wait(10)
        job = fake.jobs["jhang"]
        job.hang, job.changes = False, [(pb.JOB_STATE_LINKING_MODELS, ""), (pb.JOB_STATE_DONE, "")]
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_LinkJobServiceServicer_to_server(fake, server)
        server.add_insecure_port(f"unix:{socket_path}")
        server.start()
        servers.append(server)

    fake.on_hang = lambda: threading.Thread(target=die_and_come_back).start()
    patient = ReconnectPolicy(window=20, first_pause=0.02, max_pause=0.2)
    try:
        with Client(socket_path, reconnect=patient) as client:
            statuses = list(client.get_job("jhang").iter_status())
        assert statuses == ["CREATED", "LINKING_MODELS", "SUCCESS"]
        assert len(fake.requests_of("WatchJobs")) >= 2
    finally:
        for server in servers:
            server.stop(grace=None).wait(10)


def test_get_job_takes_the_official_job_type(client, fake):
    import qai_hub

    assert client.get_job("jdone", qai_hub.JobType.LINK).job_id == "jdone"
    with pytest.raises(ValueError, match="Requested job of type compile"):
        client.get_job("jdone", qai_hub.JobType.COMPILE)
    assert [name for name, _ in fake.requests] == ["GetJob"]  # the mismatch is caught first


def test_the_callers_timeout_still_applies_while_reconnecting(socket_path, fake):
    from aihubd_client import ReconnectPolicy

    with Client(socket_path, reconnect=ReconnectPolicy(window=60, first_pause=0.05)) as client:
        job = client.get_job("jstop")  # the daemon keeps stopping: reconnecting forever
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"\(jstop\) completion timed out after 0.4 seconds"):
            job.wait(timeout=0.4)
        assert 0.4 <= time.monotonic() - started < 5
