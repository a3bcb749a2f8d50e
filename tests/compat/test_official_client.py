"""The unmodified official qai-hub 0.56.0 client against the Hub emulator.

Every assertion follows the client's documented behaviour (return types, file
names, errors). Timing: jobs either finish on their own after 0.25 s (`emu`,
waited for with the client's own `wait()`, polling every 0.125 s), or only move
through `advance` (`manual_emu`).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import qai_hub as hub
from qai_hub import public_api_pb2 as api_pb
from qai_hub import public_rest_api as api

from aihubd.emulator import EmulatorConfig, EmulatorThread
from aihubd.emulator.config import derived_email
from aihubd.emulator.linker import extract_graph, read_container

WAIT_TIMEOUT = 30
DEVICE = "Snapdragon 8 Elite QRD"
TOKEN = "owner-token"
OTHER = "other-token"


def _submit(client: hub.Client, models: list, name: str = "mylink", options: str = "--opt"):
    job = client.submit_link_job(models=models, device=hub.Device(DEVICE), name=name, options=options)
    assert isinstance(job, hub.LinkJob)
    return job


def _target_blob(et: EmulatorThread, job: hub.LinkJob) -> bytes:
    target = job.get_target_model()
    assert target is not None
    return et.emulator.blob_store.model_path(target.model_id).read_bytes()


def test_devices_catalog_and_filters(emu: EmulatorThread, make_client) -> None:
    client = make_client(emu, TOKEN)
    names = [d.name for d in client.get_devices()]
    assert "Samsung Galaxy S24 (Family)" in names and DEVICE in names
    (elite,) = client.get_devices(name=DEVICE)
    assert isinstance(elite, hub.Device) and "framework:qnn" in elite.attributes
    qnn = client.get_devices(attributes="framework:qnn")
    assert len(qnn) == len(names) - 1  # one device lacks QNN
    assert client.get_devices(name="No Such Device") == []


def test_link_job_end_to_end(emu: EmulatorThread, make_client, dlc_pair, workdir: Path) -> None:
    a, b = dlc_pair
    client = make_client(emu, TOKEN)
    job = _submit(client, [str(a), str(b)])
    assert job.job_id.startswith("j") and job.name == "mylink" and job.options == "--opt"
    assert job.device.name == DEVICE and "framework:qnn" in job.device.attributes
    assert [m.name for m in job.models] == ["a.dlc", "b.dlc"]
    assert isinstance(job.date, datetime.datetime)
    assert job.url == f"{emu.base_url}/jobs/{job.job_id}/"

    status = job.wait(timeout=WAIT_TIMEOUT)
    assert isinstance(status, hub.JobStatus)
    assert status.success and status.finished and status.code == "SUCCESS"
    assert job.get_status().state == hub.JobStatus.State.SUCCESS

    assert job.get_available_artifacts() == [hub.JobArtifactType.DEVICE_LOG, hub.JobArtifactType.HUB_LOG]
    logs = job.download_job_logs("logs")
    log_dir = workdir / "logs"
    assert logs == [str(log_dir / f"{job.job_id}_device.log"), str(log_dir / f"{job.job_id}_hub.log")]
    store = emu.emulator.blob_store
    assert Path(logs[0]).read_bytes() == store.artifact_path(job.job_id, 1).read_bytes()
    assert Path(logs[1]).read_bytes() == store.artifact_path(job.job_id, 5).read_bytes()
    assert "link SUCCEEDED" in Path(logs[1]).read_text()

    # File form: the path is used as given when it already carries the suffix chain.
    served = _target_blob(emu, job)
    (workdir / "out").mkdir()
    path = job.download_target_model("out/target.bin")
    assert path == "out/target.bin"
    assert Path(path).read_bytes() == served
    # ... and the suffix is appended when missing.
    assert job.download_target_model("out/plain") == "out/plain.bin"
    # Directory form: named by the server's filename, uniquified on a second download.
    first = job.download_target_model(str(workdir / "out"))
    assert first == str(workdir / "out" / f"job_{job.job_id}_optimized_bin.bin")
    second = job.download_target_model(str(workdir / "out"))
    assert second != first and Path(second).name.startswith(f"job_{job.job_id}_optimized_bin_")
    assert Path(first).read_bytes() == Path(second).read_bytes() == served

    # The container holds both inputs, losslessly, with shared chunks stored once.
    header, _ = read_container(served)
    assert [g["name"] for g in header["graphs"]] == ["a", "b"]
    assert extract_graph(served, 0) == a.read_bytes()
    assert extract_graph(served, 1) == b.read_bytes()
    assert len(served) < a.stat().st_size + b.stat().st_size

    result = job.download_results("results")
    assert isinstance(result, hub.LinkJobResult) and result.status.success
    assert result.artifacts_dir == str(workdir / "results")
    assert sorted(os.listdir("results")) == sorted(
        [f"{job.job_id}_device.log", f"{job.job_id}_hub.log", f"job_{job.job_id}_optimized_bin.bin"]
    )
    assert (workdir / "results" / f"job_{job.job_id}_optimized_bin.bin").read_bytes() == served

    target = job.get_target_model()
    assert target is not None and target.model_type == hub.SourceModelType.QNN_CONTEXT_BINARY
    assert target.name == f"job_{job.job_id}_optimized_bin"
    assert target.get_producer() is not None


def test_same_inputs_link_to_identical_bytes(emu: EmulatorThread, make_client, dlc_pair) -> None:
    a, b = dlc_pair
    client = make_client(emu, TOKEN)
    first = _submit(client, [str(a), str(b)])
    second = _submit(client, [str(a), str(b)])  # uploads again: new model ids
    assert first.wait(timeout=WAIT_TIMEOUT).success and second.wait(timeout=WAIT_TIMEOUT).success
    assert {m.model_id for m in first.models}.isdisjoint(m.model_id for m in second.models)
    assert _target_blob(emu, first) == _target_blob(emu, second)


def test_uploaded_model_roundtrip(emu: EmulatorThread, make_client, dlc_pair, workdir: Path) -> None:
    a, _ = dlc_pair
    client = make_client(emu, TOKEN)
    model = client.upload_model(str(a))
    assert model.model_id.startswith("m") and model.name == "a.dlc"
    assert model.model_type == hub.SourceModelType.QNN_DLC
    fetched = client.get_model(model.model_id)
    assert fetched.model_id == model.model_id and fetched.name == "a.dlc"
    path = fetched.download(str(workdir / "copy.dlc"))
    assert Path(path).read_bytes() == a.read_bytes()


def test_set_name_visible_on_fresh_get(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(manual_emu, TOKEN)
    job = _submit(client, [str(p) for p in dlc_pair])
    job.set_name("renamed")
    assert job.name == "renamed"
    assert client.get_job(job.job_id).name == "renamed"


def test_sharing(emu: EmulatorThread, make_client, dlc_pair, workdir: Path) -> None:
    owner = make_client(emu, TOKEN)
    other = make_client(emu, OTHER)
    other_email = derived_email(OTHER)
    assert api.get_auth_user(other.config).email == other_email  # makes the email known
    job = _submit(owner, [str(p) for p in dlc_pair])
    assert job.wait(timeout=WAIT_TIMEOUT).success

    with pytest.raises(hub.UserError, match="could not be found"):
        other.get_job(job.job_id)
    with pytest.raises(hub.UserError, match=r"Email not found: nobody@example\.com"):
        job.modify_sharing(add_emails=["nobody@example.com"])

    assert list(job.get_sharing()) == []
    job.modify_sharing(add_emails=[other_email])
    assert list(job.get_sharing()) == [other_email]
    seen = other.get_job(job.job_id)
    assert seen.name == "mylink" and seen.get_status().success
    # Sharing the job shares its models: the other user can download the target.
    (workdir / "other").mkdir()
    path = seen.download_target_model(str(workdir / "other"))
    assert Path(path).read_bytes() == _target_blob(emu, job)

    job.modify_sharing(delete_emails=[other_email])
    assert list(job.get_sharing()) == []
    job.modify_sharing(add_emails=[other_email])
    job.disable_sharing()
    assert list(job.get_sharing()) == []
    with pytest.raises(hub.UserError, match="could not be found"):
        other.get_job(job.job_id)


def test_failed_link_for_empty_input(emu: EmulatorThread, make_client, dlc_pair, tmp_path: Path, workdir: Path) -> None:
    empty = tmp_path / "empty.dlc"
    empty.write_bytes(b"")
    client = make_client(emu, TOKEN)
    job = _submit(client, [str(empty), str(dlc_pair[0])])
    status = job.wait(timeout=WAIT_TIMEOUT)
    assert status.failure and status.finished and not status.success
    assert status.message and "empty" in status.message
    assert job.get_target_model() is None
    assert job.download_target_model(str(workdir)) is None
    assert job.get_available_artifacts() == [hub.JobArtifactType.DEVICE_LOG, hub.JobArtifactType.HUB_LOG]
    hub_log = [p for p in job.download_job_logs("logs") if p.endswith("_hub.log")]
    assert "link FAILED" in Path(hub_log[0]).read_text()
    assert not (workdir / f"job_{job.job_id}_optimized_bin.bin").exists()


def test_failed_link_for_duplicate_content(manual_emu: EmulatorThread, make_client, tmp_path) -> None:
    one, two = tmp_path / "one.dlc", tmp_path / "two.dlc"
    one.write_bytes(b"same bytes" * 10)
    two.write_bytes(b"same bytes" * 10)
    client = make_client(manual_emu, TOKEN)
    job = _submit(client, [str(one), str(two)])
    assert job.get_status().pending
    assert manual_emu.advance(job.job_id) == api_pb.JOB_STATE_LINKING_MODELS
    assert job.get_status().running
    assert manual_emu.advance(job.job_id) == api_pb.JOB_STATE_FAILED
    status = job.get_status()
    assert status.failure and "identical content" in (status.message or "")


def test_manual_mode_moves_only_on_advance(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(manual_emu, TOKEN)
    job = _submit(client, [str(p) for p in dlc_pair])
    assert client.get_job(job.job_id).get_status().state == hub.JobStatus.State.CREATED
    manual_emu.advance(job.job_id)
    assert client.get_job(job.job_id).get_status().state == hub.JobStatus.State.LINKING_MODELS
    manual_emu.advance(job.job_id)
    assert job.wait(timeout=WAIT_TIMEOUT).success
    assert manual_emu.advance(job.job_id) == api_pb.JOB_STATE_DONE  # terminal stays


def test_unknown_and_non_qnn_devices(emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(emu, TOKEN)
    models = [str(p) for p in dlc_pair]
    with pytest.raises(hub.UserError, match="is not available"):
        client.submit_link_job(models=models, device=hub.Device("Nonexistent Phone"))
    with pytest.raises(hub.UserError, match="does not support QNN"):
        client.submit_link_job(models=models, device=hub.Device("Apple iPhone 15 Pro"))


def test_job_of_another_user_is_not_found(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    job = _submit(make_client(manual_emu, TOKEN), [str(p) for p in dlc_pair])
    other = make_client(manual_emu, OTHER)
    with pytest.raises(hub.UserError, match=f"ID '{job.job_id}' could not be found"):
        other.get_job(job.job_id)


def test_authentication_failures(make_client) -> None:
    config = EmulatorConfig(manual=True, tokens=["listed", "named:alice@example.com"])
    with EmulatorThread(config) as et:
        assert make_client(et, "listed").get_devices()
        assert api.get_auth_user(make_client(et, "named").config).email == "alice@example.com"
        for token in ("unlisted", ""):
            with pytest.raises(hub.UserError, match="Failed to authenticate"):
                make_client(et, token).get_devices()
            with pytest.raises(api.APIException) as raw:
                api.get_auth_user(make_client(et, token).config)
            assert raw.value.status_code == 401


def test_job_summaries_filtering_and_paging(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(manual_emu, TOKEN)
    models = [client.upload_model(str(p)) for p in dlc_pair]
    oldest, middle, newest = (_submit(client, models, name=f"job{i}") for i in range(3))
    for _ in range(2):
        manual_emu.advance(oldest.job_id)
    manual_emu.advance(middle.job_id)
    State = hub.JobStatus.State

    def ids(**kwargs) -> list[str]:
        summaries = client.get_job_summaries(type=hub.JobType.LINK, **kwargs)
        assert all(isinstance(s, hub.LinkJobSummary) for s in summaries)
        return [s.job_id for s in summaries]

    assert ids() == [newest.job_id, middle.job_id, oldest.job_id]
    assert ids(state=State.CREATED) == [newest.job_id]
    assert ids(state=hub.JobStatus.all_running_states()) == [middle.job_id]
    assert ids(state=[State.SUCCESS, State.FAILED]) == [oldest.job_id]
    assert ids(limit=1, offset=1) == [middle.job_id]
    assert ids(offset=3) == []
    assert ids(creator=derived_email(TOKEN)) == [newest.job_id, middle.job_id, oldest.job_id]
    assert ids(creator="someone@else.invalid") == []
    assert client.get_job_summaries(type=hub.JobType.COMPILE) == []
    (summary,) = client.get_job_summaries(limit=1)
    assert summary.name == "job2" and summary.status.state == State.CREATED
    assert summary.device_name == DEVICE and summary.username == derived_email(TOKEN)

    listed = api.get_job_list(client.config, limit=2, job_type=api_pb.JobType.JOB_TYPE_LINK)
    assert listed.total_query_count == 3
    assert [j.link_job.link_job_id for j in listed.jobs] == [newest.job_id, middle.job_id]


def test_counters_follow_client_calls(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(manual_emu, TOKEN)
    job = _submit(client, [str(p) for p in dlc_pair])
    counts = manual_emu.counters()
    assert counts["POST /api/v1/models/"] == 2
    assert counts["PUT /blobs/{blob_key}"] == 2
    assert counts["GET /api/v1/devices/"] == 1
    assert counts["POST /api/v1/jobs/"] == 1
    assert counts["GET /api/v1/jobs/{job_id}/"] == 1

    manual_emu.reset_counters()
    client.get_job(job.job_id)
    client.get_job(job.job_id)
    client.get_job_summaries()
    assert manual_emu.counters() == {"GET /api/v1/jobs/{job_id}/": 2, "GET /api/v1/job_summaries/": 1}
    assert manual_emu.job_get_counts() == {job.job_id: 2}


def test_project_scoped_routes(manual_emu: EmulatorThread, make_client, dlc_pair) -> None:
    client = make_client(manual_emu, TOKEN)
    job = client.submit_link_job(models=[str(p) for p in dlc_pair], device=hub.Device(DEVICE), project="pdemo")
    assert job.project_id == "pdemo"
    assert [s.job_id for s in client.get_job_summaries(project="pdemo")] == [job.job_id]
    assert client.get_job_summaries(project="pother") == []
    counts = manual_emu.counters()
    assert counts["POST /api/v1/projects/{project_id}/jobs/"] == 1
    assert counts["GET /api/v1/projects/{project_id}/job_summaries/"] == 2
