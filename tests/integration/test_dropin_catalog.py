"""Models, devices and download destinations through a real daemon and the emulator, the way
``qai_hub`` scripts use them: ``upload_model``, ``get_model(s)``, ``Model.download`` and sharing,
``get_devices`` (cached an hour, typos answered with the closest names), and the official
destination checks of ``download_target_model``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub
from e2e_support import Daemon, finish_job, make_dlc

from aihubd_client import Client, Model, NotFoundError, SourceModelType, UserError

DEVICE = "Snapdragon 8 Elite QRD"
OTHER_TOKEN = "test-token-catalog-other"


@pytest.fixture(scope="module")
def client(served: Daemon) -> Iterator[Client]:
    with Client(served.socket) as instance:
        yield instance


@pytest.fixture(scope="module")
def dlcs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("catalog-models")
    shared = bytes(range(256)) * 16
    return make_dlc(base / "prompt.dlc", b"P" + shared), make_dlc(base / "token.dlc", b"T" + shared)


# ---------------------------------------------------------------------------- models


def test_upload_model_returns_a_model_once_per_content(client, dlcs, hub_emulator):
    hub_emulator.reset_counters()
    model = client.upload_model(str(dlcs[0]))
    assert isinstance(model, Model)
    assert model.name == "prompt.dlc"
    assert model.model_type is SourceModelType.QNN_DLC
    assert model.date is not None
    assert model.url.endswith(f"/models/{model.model_id}/")
    assert model.get_producer() is None
    again = client.upload_model(dlcs[0])  # same content: reused, not uploaded again
    assert again.model_id == model.model_id
    assert hub_emulator.counters().get("POST /api/v1/models/") == 1


def test_upload_model_names_what_is_wrong(client, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'model.onnx'} is not a QNN DLC model (.dlc)")):
        client.upload_model(str(tmp_path / "model.onnx"))
    (tmp_path / "dir.dlc").mkdir()
    with pytest.raises(UserError, match="is a directory, not a QNN DLC model"):
        client.upload_model(str(tmp_path / "dir.dlc"))


def test_get_model_and_get_models_read_through_the_daemon(client, dlcs):
    uploaded = client.upload_model(dlcs[1], name="token-graph")
    model = client.get_model(uploaded.model_id)
    assert (model.model_id, model.name, model.model_type) == (uploaded.model_id, "token-graph", SourceModelType.QNN_DLC)
    listed = client.get_models(limit=100)
    assert uploaded.model_id in [m.model_id for m in listed]
    assert client.get_models(limit=0) == []
    with pytest.raises(NotFoundError, match="mnotthere1"):
        client.get_model("mnotthere1")


def test_model_download_follows_the_official_naming_rules(client, dlcs, tmp_path, monkeypatch):
    model = client.upload_model(dlcs[0])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "into").mkdir()
    into = model.download("into")
    assert into == os.path.join("into", "prompt.dlc")
    assert (tmp_path / into).read_bytes() == dlcs[0].read_bytes()
    named = model.download("copy")  # a file path gets the Hub filename's suffix
    assert named == "copy.dlc"
    assert (tmp_path / "copy.dlc").read_bytes() == dlcs[0].read_bytes()
    with pytest.raises(ValueError, match=re.escape("Download directory 'nowhere' does not exist.")):
        model.download("nowhere/")


def test_model_sharing_round_trip(client, dlcs, hub_emulator):
    config = hub.ClientConfig(api_token=OTHER_TOKEN, api_url=hub_emulator.base_url, web_url=hub_emulator.base_url)
    email = hub.public_rest_api.get_auth_user(config).email  # the emulator now knows them
    model = client.upload_model(dlcs[1])
    assert model.get_sharing() == []
    assert model.modify_sharing(add_emails=[email]) is None
    assert model.get_sharing() == [email]
    model.disable_sharing()
    assert model.get_sharing() == []
    with pytest.raises(UserError, match="Either add_emails or delete_emails"):
        model.modify_sharing()


def test_target_model_is_a_model_that_downloads_through_the_job(client, dlcs, served, hub_emulator, tmp_path):
    job = client.submit_link_job(list(dlcs), DEVICE, name="catalog-target")
    assert [m.model_id for m in job.models] and all(isinstance(m, Model) for m in job.models)
    finish_job(hub_emulator, served, job.job_id)
    target = job.get_target_model()
    assert isinstance(target, Model)
    assert target.model_type is SourceModelType.QNN_CONTEXT_BINARY
    assert target.get_producer() is job
    path = target.download(str(tmp_path / "linked"))
    assert path == str(tmp_path / "linked.bin")
    assert client.get_model(target.model_id).get_producer().job_id == job.job_id


# ---------------------------------------------------------------------------- destinations


def test_download_target_model_into_a_missing_directory_raises_the_official_error(
    client, dlcs, served, hub_emulator, tmp_path, monkeypatch
):
    job = client.submit_link_job(list(dlcs), DEVICE, name="catalog-dest")
    finish_job(hub_emulator, served, job.job_id)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=re.escape("Download directory 'out' does not exist.")):
        job.download_target_model("out/")
    assert list(tmp_path.iterdir()) == []  # nothing written, not ./out.bin
    (tmp_path / "afile").write_bytes(b"not a directory")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'afile'} is a file, not a directory")):
        job.download_target_model("afile/sub")
    with pytest.raises(UserError, match="afile is a file, not a directory"):
        job.download_job_logs("afile/logs")


# ---------------------------------------------------------------------------- devices


def test_get_devices_filters_and_is_cached_by_the_daemon(client, hub_emulator):
    official = hub.Client(
        config=hub.ClientConfig(api_token="t", api_url=hub_emulator.base_url, web_url=hub_emulator.base_url)
    )
    hub_emulator.reset_counters()
    devices = client.get_devices()
    assert [d.name for d in devices] == [d.name for d in official.get_devices()]
    assert client.get_devices() == devices
    (only,) = client.get_devices(name=DEVICE)
    assert only.name == DEVICE and "framework:qnn" in only.attributes
    qnn = client.get_devices(attributes="framework:qnn")
    assert qnn and all("framework:qnn" in d.attributes for d in qnn)
    same_os = client.get_devices(name=DEVICE, os="[14,)")
    assert [d.name for d in same_os] == [d.name for d in official.get_devices(name=DEVICE, os="[14,)")]
    with pytest.raises(ValueError, match="Cannot filter devices when provided only an OS version"):
        client.get_devices(os="14")
    with pytest.raises(UserError, match=re.escape("Incorrectly formed OS interval [14")):
        client.get_devices(name=DEVICE, os="[14")
    assert client.get_device_attributes() == official.get_device_attributes()
    counted = hub_emulator.counters()["GET /api/v1/devices/"]
    client.get_devices()
    client.get_devices(name=DEVICE)
    client.get_device_attributes()
    assert hub_emulator.counters()["GET /api/v1/devices/"] == counted  # answered from the hour's cache


def test_device_names_match_case_insensitively(client):
    (device,) = client.get_devices(name=DEVICE.lower())
    assert device.name == DEVICE


def test_a_typo_in_a_device_name_answers_with_the_closest_real_name(client, dlcs):
    with pytest.raises(NotFoundError, match=re.escape(f"did you mean '{DEVICE}'?")):
        client.get_devices(name="Snapdragon 8 Elite QDR")
    with pytest.raises(NotFoundError, match=re.escape(f"did you mean '{DEVICE}'?")):
        client.submit_link_job(list(dlcs), "snapdragon 8 elite qdr")


def test_an_unknown_model_id_in_a_link_names_the_model(client, dlcs):
    with pytest.raises(NotFoundError, match="model mnotexist1 was not found on the Hub") as caught:
        client.submit_link_job([str(dlcs[0]), "mnotexist1"], DEVICE)
    assert "/api/v1/jobs/" not in str(caught.value)


def test_a_device_name_in_another_case_is_that_device_on_submit(client, dlcs):
    job = client.submit_link_job(list(dlcs), DEVICE.upper(), name="catalog-case")
    assert job.device.name == DEVICE
