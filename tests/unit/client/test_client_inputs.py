"""Argument checks that run before any call, with qai_hub's messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import qai_hub

from aihubd_client import JobStatus, UserError
from aihubd_client.inputs import (
    check_sharing_change,
    device_names,
    model_inputs,
    project_id,
    state_values,
)


class Model:
    def __init__(self, model_id: str, model_type: object = None) -> None:
        self.model_id = model_id
        if model_type is not None:
            self.model_type = model_type


def test_paths_become_absolute_and_ids_stay_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs = model_inputs(["a.dlc", Path("sub/b.dlc"), b"c.dlc", "mabcdef12", Model("mzz99999")])
    assert [i.WhichOneof("source") for i in inputs] == ["path", "path", "path", "model_id", "model_id"]
    assert inputs[0].path == str(tmp_path / "a.dlc") and inputs[1].path == str(tmp_path / "sub" / "b.dlc")
    assert inputs[3].model_id == "mabcdef12"


def test_a_single_model_needs_no_list(tmp_path):
    assert len(model_inputs(str(tmp_path / "x.dlc"))) == 1
    assert len(model_inputs(Model("mabcdef12"))) == 1
    assert len(model_inputs(("a.dlc", "b.dlc"))) == 2  # any iterable works (qai_hub: lists only)


@pytest.mark.parametrize(
    "bad",
    ["a.onnx", "a.DLC", "a", "", "dir.dlc", Model("m123456", qai_hub.SourceModelType.ONNX), Model("m1234567", 11), 42],
)
def test_anything_but_a_dlc_is_refused(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.dlc").mkdir()
    with pytest.raises(UserError):
        model_inputs(["ok.dlc", bad])


def test_messages_are_the_official_ones(tmp_path):
    with pytest.raises(UserError, match=r"^a\.onnx is not a QNN DLC model \(\.dlc\)$"):
        model_inputs("a.onnx")
    (tmp_path / "dir.dlc").mkdir()
    with pytest.raises(UserError, match=r"dir\.dlc is a directory, not a QNN DLC model \(\.dlc\)$"):
        model_inputs(str(tmp_path / "dir.dlc"))
    with pytest.raises(UserError, match=r"^A link job takes at least one input model\.$"):
        model_inputs([])
    with pytest.raises(UserError, match=r"^All input models to a link job must be distinct\.$"):
        model_inputs([tmp_path / "a.dlc", str(tmp_path / "x" / ".." / "a.dlc")])
    with pytest.raises(UserError, match=r"^Model passed in was 'None'"):
        model_inputs(None)


def test_devices_and_projects():
    assert device_names("Dev A") == ["Dev A"]
    assert device_names(qai_hub.Device("Dev B")) == ["Dev B"]
    assert device_names(["Dev A", qai_hub.Device("Dev B")]) == ["Dev A", "Dev B"]
    with pytest.raises(UserError):
        device_names(qai_hub.Device(os="15", attributes="framework:qnn"))  # the daemon needs a name
    assert project_id(None) == "" and project_id("p1") == "p1"

    class Project:
        project_id = "p2"

    assert project_id(Project()) == "p2"
    with pytest.raises(UserError):
        project_id(12)


def test_state_values_take_every_spelling():
    assert state_values(None) == []
    assert state_values("SUCCESS") == [10]
    assert state_values(qai_hub.JobStatus.State.FAILED) == [30]
    assert state_values([JobStatus.State.CREATED, 100, JobStatus("SUCCESS")]) == [1, 100, 10]
    with pytest.raises(UserError, match="unknown job status code"):
        state_values(["DONE"])


def test_sharing_change_is_checked_like_qai_hub():
    assert check_sharing_change(["a@b.co"], None) == (["a@b.co"], [])
    assert check_sharing_change(None, ["x.y+z@sub.example.org"]) == ([], ["x.y+z@sub.example.org"])
    for add, delete in (([], []), ((), ()), (None, None), ("", "")):
        with pytest.raises(UserError, match="must be specified and non-empty"):
            check_sharing_change(add, delete)
    for add, delete in (("a@b.co", []), ([], ("a@b.co",)), ({"a@b.co"}, [])):
        with pytest.raises(UserError, match="must both be lists"):
            check_sharing_change(add, delete)
    for email in ("plain", "a@b", "a b@c.d", "a@b.co,c@d.co", "@b.co", "a@.", "x" * 250 + "@b.co"):
        with pytest.raises(UserError, match="is not an email address"):
            check_sharing_change([email], [])


def test_paths_expand_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (inp,) = model_inputs("~/m.dlc")
    assert inp.path == os.path.join(str(tmp_path), "m.dlc")


def test_job_type_is_link_or_nothing():
    from aihubd_client.inputs import check_job_type

    check_job_type(None)
    check_job_type(qai_hub.JobType.LINK)
    check_job_type("link")
    with pytest.raises(ValueError, match="Requested job of type compile, but got job of type link"):
        check_job_type(qai_hub.JobType.COMPILE)
