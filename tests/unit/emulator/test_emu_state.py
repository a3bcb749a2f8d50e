"""State rules: users, visibility, sharing, job life cycle timing, listing, snapshots."""

from __future__ import annotations

import pytest

from aihubd.emulator.config import EmulatorConfig, derived_email
from aihubd.emulator.errors import BadRequest, Forbidden, NotFound
from aihubd.emulator.records import CREATED, DONE, FAILED, LINKING_MODELS, JobRecord, ModelRecord
from aihubd.emulator.state import EmulatorState


def _job(state: EmulatorState, owner_token: str, *, fail: str | None = None, project: str | None = None) -> JobRecord:
    user = state.authenticate(owner_token)
    assert user is not None
    source = state.create_model(user, "a.dlc", 15, False, None)
    job_id = state.new_id("j")
    target = None
    if fail is None:
        name = f"job_{job_id}_optimized_bin"
        target = ModelRecord(state.new_id("m"), user.user_id, name, 11, state.clock(), producer_id=job_id)
    job = JobRecord(
        job_id=job_id,
        seq=0,
        owner_id=user.user_id,
        name="n",
        options="",
        device={"name": "Dev", "os": "1", "attributes": []},
        model_ids=[source.model_id],
        creation_time=state.clock(),
        project_id=project,
        planned_failure=fail,
        target_model_id=target.model_id if target else None,
    )
    state.add_job(job, target)
    return job


def test_users_are_per_token(clock) -> None:
    state = EmulatorState(EmulatorConfig(), clock)
    one = state.authenticate("t1")
    assert one is not None and one.email == derived_email("t1")
    assert derived_email("t1").startswith("u") and derived_email("t1").endswith("@emulator.invalid")
    assert state.authenticate("t1") is one
    two = state.authenticate("t2")
    assert two is not None and two.user_id != one.user_id
    assert state.authenticate("") is None
    assert state.email_known(one.email) and not state.email_known("x@y")


def test_token_allow_list(clock) -> None:
    state = EmulatorState(EmulatorConfig(tokens=["a", "b:bob@example.com"]), clock)
    assert state.email_known("bob@example.com")  # configured users are known from the start
    assert state.email_known(derived_email("a"))
    assert state.authenticate("c") is None
    bob = state.authenticate("b")
    assert bob is not None and bob.email == "bob@example.com"
    with pytest.raises(ValueError):
        EmulatorConfig(tokens=["x:not-an-email"])


def test_automatic_life_cycle_timing(clock) -> None:
    state = EmulatorState(EmulatorConfig(link_seconds=4.0), clock)
    job = _job(state, "t")
    start = job.creation_time
    clock.tick(1.99)
    state.refresh(job)
    assert job.state == CREATED and job.start_time is None
    clock.tick(0.01)
    state.refresh(job)
    assert job.state == LINKING_MODELS and job.start_time == start + 2.0
    clock.tick(10)  # long after: timestamps are the scheduled ones
    state.refresh(job)
    assert job.state == DONE
    assert job.completion_time == start + 4.0 and job.last_updated_time == start + 4.0
    assert state.models[job.target_model_id or ""].has_content


def test_failure_and_manual_mode(clock) -> None:
    state = EmulatorState(EmulatorConfig(manual=True), clock)
    job = _job(state, "t", fail="boom")
    clock.tick(1000)
    state.refresh(job)
    assert job.state == CREATED
    assert state.advance(job.job_id).state == LINKING_MODELS
    assert state.advance(job.job_id).state == FAILED
    assert state.advance(job.job_id).state == FAILED
    assert job.target_model_id is None
    with pytest.raises(NotFound):
        state.advance("jnope")


def test_advance_in_automatic_mode_restarts_the_phase(clock) -> None:
    state = EmulatorState(EmulatorConfig(link_seconds=4.0), clock)
    job = _job(state, "t")
    clock.tick(1.0)
    state.advance(job.job_id)
    assert job.state == LINKING_MODELS and job.start_time == clock.now
    clock.tick(1.9)
    state.refresh(job)
    assert job.state == LINKING_MODELS
    clock.tick(0.1)
    state.refresh(job)
    assert job.state == DONE


def test_zero_link_seconds_finishes_at_once(clock) -> None:
    state = EmulatorState(EmulatorConfig(link_seconds=0), clock)
    assert _job(state, "t").state == DONE


def test_visibility_and_sharing(clock) -> None:
    state = EmulatorState(EmulatorConfig(manual=True), clock)
    job = _job(state, "owner")
    owner = state.authenticate("owner")
    other = state.authenticate("other")
    assert owner is not None and other is not None
    source_id, target_id = job.model_ids[0], job.target_model_id or ""
    assert state.visible_job(owner, job.job_id) is job
    with pytest.raises(NotFound):
        state.visible_job(other, job.job_id)
    with pytest.raises(NotFound):
        state.visible_model(other, target_id)
    with pytest.raises(BadRequest, match="Email not found: x@y"):
        state.modify_sharing(owner, "jobs", job.job_id, ["x@y"], [])

    state.modify_sharing(owner, "jobs", job.job_id, [other.email], [])
    assert state.sharing(owner, "jobs", job.job_id) == [other.email]
    assert state.visible_job(other, job.job_id) is job
    assert state.visible_model(other, source_id).model_id == source_id  # shared with the job
    assert state.visible_model(other, target_id).model_id == target_id
    with pytest.raises(Forbidden):
        state.rename_job(other, job.job_id, "mine")
    with pytest.raises(Forbidden):
        state.disable_sharing(other, "jobs", job.job_id)

    state.disable_sharing(owner, "jobs", job.job_id)
    with pytest.raises(NotFound):
        state.visible_job(other, job.job_id)
    with pytest.raises(NotFound):
        state.visible_model(other, source_id)

    state.modify_sharing(owner, "models", source_id, [other.email], [])  # direct model share
    assert state.visible_model(other, source_id).model_id == source_id
    with pytest.raises(NotFound):
        state.visible_job(other, job.job_id)


def test_list_jobs_filters_and_order(clock) -> None:
    state = EmulatorState(EmulatorConfig(manual=True), clock)
    first = _job(state, "a")
    second = _job(state, "a", project="p1")  # same creation time: creation order breaks the tie
    clock.tick(1)
    third = _job(state, "a")
    _job(state, "b")
    user = state.authenticate("a")
    assert user is not None
    assert [j.job_id for j in state.list_jobs(user)] == [third.job_id, second.job_id, first.job_id]
    assert [j.job_id for j in state.list_jobs(user, project_id="p1")] == [second.job_id]
    state.advance(first.job_id)
    assert [j.job_id for j in state.list_jobs(user, states={LINKING_MODELS})] == [first.job_id]
    assert state.list_jobs(user, creator=derived_email("b")) == []
    assert state.list_jobs(user, link_only=False) == []


def test_snapshot_roundtrip(clock) -> None:
    config = EmulatorConfig(manual=True)
    state = EmulatorState(config, clock)
    job = _job(state, "owner")
    state.advance(job.job_id)
    copy = EmulatorState(config, clock)
    copy.restore(state.snapshot())
    assert copy.secret == state.secret
    assert copy.jobs[job.job_id] == job
    assert copy.models == state.models
    owner = copy.authenticate("owner")
    assert owner is not None and copy.visible_job(owner, job.job_id).state == LINKING_MODELS
    assert "owner" not in str(copy.snapshot()["users"])  # only token digests are kept
    newer = _job(copy, "owner")
    assert newer.seq > job.seq
