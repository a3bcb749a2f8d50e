"""``import aihubd_client as hub`` reads like ``import qai_hub as hub``: the same module functions
with the same signatures and defaults (compared against the installed qai_hub 0.56.0), the
names scripts use, ``hub.client.X`` paths, and the official job attributes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import qai_hub

import aihubd_client
import aihubd_client.module_functions as default_module
from aihubd_client import Client, JobType, LinkJob, Model
from aihubd_client.socket_path import SOCKET_ENV

QAI_HUB_FUNCTIONS = [
    "submit_link_job",
    "get_job",
    "get_job_summaries",
    "get_devices",
    "get_device_attributes",
    "upload_model",
    "get_model",
    "get_models",
    "set_verbose",
]
NAMES = ["Device", "JobStatus", "JobType", "JobArtifactType", "LinkJob", "LinkJobSummary", "Model", "UserError"]
EXTRAS = ["get_jobs", "track_job"]


def _shape(function: object) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults (annotations differ in spelling, not in meaning)."""
    parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in parameters if p.name != "self"]


@pytest.mark.parametrize("name", QAI_HUB_FUNCTIONS)
def test_module_functions_have_the_official_signatures(name):
    assert _shape(getattr(aihubd_client, name)) == _shape(getattr(qai_hub, name))


@pytest.mark.parametrize("name", QAI_HUB_FUNCTIONS)
def test_client_methods_have_the_official_signatures(name):
    ours = _shape(getattr(Client, name))
    official = _shape(getattr(qai_hub.Client, name))
    # Client.submit_link_job adds a keyword-only request_id after the official parameters.
    assert ours[: len(official)] == official
    assert all(kind is inspect.Parameter.KEYWORD_ONLY for _, kind, _ in ours[len(official) :])


@pytest.mark.parametrize(
    ("ours", "official"),
    [
        (Model.download, qai_hub.Model.download),
        (Model.modify_sharing, qai_hub.Model.modify_sharing),
        (Model.get_sharing, qai_hub.Model.get_sharing),
        (Model.disable_sharing, qai_hub.Model.disable_sharing),
        (Model.get_producer, qai_hub.Model.get_producer),
        (LinkJob.download_target_model, qai_hub.LinkJob.download_target_model),
        (LinkJob.download_results, qai_hub.LinkJob.download_results),
        (LinkJob.modify_sharing, qai_hub.LinkJob.modify_sharing),
        (LinkJob.set_name, qai_hub.LinkJob.set_name),
    ],
)
def test_methods_start_with_the_official_parameters(ours, official):
    mine, theirs = _shape(ours), _shape(official)
    assert mine[: len(theirs)] == theirs
    assert all(default is not inspect.Parameter.empty for _, _, default in mine[len(theirs) :])


def test_all_lists_the_qai_hub_names_and_our_extras():
    for name in [*QAI_HUB_FUNCTIONS, *NAMES, *EXTRAS]:
        assert name in aihubd_client.__all__
        assert getattr(aihubd_client, name) is not None
    for name in aihubd_client.__all__:
        assert hasattr(aihubd_client, name), name


def test_hub_client_paths_resolve_like_qai_hub_client():
    hub = aihubd_client
    assert hub.client.UserError is hub.UserError
    assert hub.client.LinkJob is hub.LinkJob
    for name in NAMES:
        assert getattr(hub.client, name) is getattr(hub, name)


def test_job_type_members_and_values_are_the_official_ones():
    assert [(m.name, m.value) for m in JobType] == [(m.name, m.value) for m in qai_hub.JobType]
    assert JobType.PROFILE is JobType.INFERENCE
    assert JobType.LINK.display_name == qai_hub.JobType.LINK.display_name == "link"


def test_source_model_types_are_the_official_ones():
    assert [(m.name, m.value) for m in aihubd_client.SourceModelType] == [
        (m.name, m.value) for m in qai_hub.SourceModelType
    ]


def test_device_is_built_like_qai_hub_device():
    assert aihubd_client.Device() == aihubd_client.Device("", "", ())
    device = aihubd_client.Device("Snapdragon 8 Elite QRD", "15", ["framework:qnn"])
    assert device.attributes == ("framework:qnn",)
    assert aihubd_client.Device("X", attributes="chipset:x").attributes == ("chipset:x",)


def test_the_default_client_is_created_lazily_on_aihubd_socket(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(default_module, "_client", None)
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "custom.sock"))
    first = default_module.default_client()
    assert first.socket_path == tmp_path / "custom.sock"
    assert default_module.default_client() is first  # one client, shared
    monkeypatch.setattr(default_module, "_client", None)


def test_module_functions_use_the_default_client(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(default_module, "_client", None)
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "absent.sock"))
    with pytest.raises(aihubd_client.DaemonUnavailableError, match=str(tmp_path / "absent.sock")):
        aihubd_client.get_job("jabc123")
    monkeypatch.setattr(default_module, "_client", None)


def test_jobs_carry_the_official_attributes(client):
    job = client.get_job("jsuccess")
    assert job.job_type == qai_hub.JobType.LINK.display_name == "link"
    assert job.verbose is False
    assert job.hub_version == ""
    assert job.options == "" or isinstance(job.options, str)
    assert job.project_id is None or isinstance(job.project_id, str)
    client.set_verbose(True)
    assert client.get_job("jsuccess").verbose is True
    assert all(model.verbose for model in client.get_job("jsuccess").models)
