"""The 401 gate on its own: parked traffic is re-probed with capped, growing backoff."""

from __future__ import annotations

import pytest

from aihubd.hub.auth_gate import AuthGate


def test_a_401_parks_and_probes_follow_a_capped_doubling_backoff() -> None:
    gate = AuthGate(first=2.0, cap=30.0)
    assert not gate.parked and not gate.probe_due(0.0)
    gate.rejected("401", now=100.0)
    assert gate.parked and gate.state().since == 100.0
    gaps = []
    now = 100.0
    for _ in range(7):  # each probe answered 401 again
        next_probe = gate.state().next_probe
        assert next_probe is not None
        assert not gate.probe_due(next_probe - 0.01) and gate.probe_due(next_probe)
        gaps.append(next_probe - now)
        now = next_probe
        gate.rejected("401", now=now)
    assert gaps == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert gate.state().since == 100.0  # parked since the first 401


def test_new_credentials_make_a_probe_due_at_once_and_restart_the_backoff() -> None:
    gate = AuthGate(first=2.0, cap=300.0)
    gate.rejected("401", now=0.0)
    for t in (2.0, 6.0, 14.0):
        gate.rejected("401", now=t)  # backoff has grown to 16 s
    gate.credentials_changed(now=20.0)
    assert gate.probe_due(20.0)
    gate.rejected("401", now=20.0)  # the new token is rejected too: the backoff starts over
    assert gate.state().next_probe == pytest.approx(22.0)


def test_an_unreachable_probe_retries_after_the_same_delay_and_a_good_one_resumes() -> None:
    gate = AuthGate(first=2.0, cap=300.0)
    gate.rejected("401", now=0.0)
    gate.probe_failed(now=2.0)
    assert gate.state().next_probe == 4.0
    gate.resumed()
    assert not gate.parked and gate.state().next_probe is None and gate.error == ""
