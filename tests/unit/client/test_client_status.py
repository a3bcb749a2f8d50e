"""JobStatus behaves like qai_hub.client.JobStatus and equals its code string."""

from __future__ import annotations

import pickle

import pytest

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import JobStatus

# wire value, official code, pending, running, finished
TABLE = [
    (pb.JOB_STATE_UNSPECIFIED, "UNSPECIFIED", False, True, False),
    (pb.JOB_STATE_CREATED, "CREATED", True, False, False),
    (pb.JOB_STATE_DONE, "SUCCESS", False, False, True),
    (pb.JOB_STATE_FAILED, "FAILED", False, False, True),
    (pb.JOB_STATE_OPTIMIZING_MODEL, "OPTIMIZING_MODEL", False, True, False),
    (pb.JOB_STATE_PROVISIONING_DEVICE, "PROVISIONING_DEVICE", False, True, False),
    (pb.JOB_STATE_MEASURING_PERFORMANCE, "MEASURING_PERFORMANCE", False, True, False),
    (pb.JOB_STATE_RUNNING_INFERENCE, "RUNNING_INFERENCE", False, True, False),
    (pb.JOB_STATE_QUANTIZING_MODEL, "QUANTIZING_MODEL", False, True, False),
    (pb.JOB_STATE_LINKING_MODELS, "LINKING_MODELS", False, True, False),
]


@pytest.mark.parametrize(("state", "code", "pending", "running", "finished"), TABLE)
def test_status_matches_official_semantics(state, code, pending, running, finished):
    status = JobStatus(state)
    assert status == code
    assert isinstance(status, str)
    assert status.code == code
    assert status.state == state
    assert isinstance(status.state, int)
    assert (status.pending, status.running, status.finished) == (pending, running, finished)
    assert status.success is (code == "SUCCESS")
    assert status.failure is (code == "FAILED")


def test_table_covers_every_wire_state():
    assert {row[0] for row in TABLE} == set(pb.JobState.values())


def test_unknown_wire_value_reads_as_unspecified_and_running():
    status = JobStatus(12345)
    assert status == "UNSPECIFIED"
    assert status.running and not status.finished


def test_built_from_code_with_message():
    status = JobStatus("FAILED", "no space")
    assert status.state == pb.JOB_STATE_FAILED
    assert status.message == "no space"
    assert status.failure
    assert JobStatus("SUCCESS").message == ""


def test_unknown_code_is_rejected():
    with pytest.raises(ValueError, match="unknown job status code"):
        JobStatus("DONE")


def test_usable_as_a_string_key_repr_and_pickle():
    status = JobStatus(pb.JOB_STATE_DONE)
    assert {"SUCCESS": 1}[status] == 1
    assert f"{status}" == "SUCCESS"
    assert repr(JobStatus("FAILED", "x")) == "JobStatus('FAILED', message='x')"
    copy = pickle.loads(pickle.dumps(JobStatus("FAILED", "why")))
    assert (copy, copy.message, copy.failure) == ("FAILED", "why", True)
