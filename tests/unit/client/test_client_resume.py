"""How a wait rides out a daemon restart, and deadlines, on a fake clock."""

from __future__ import annotations

from client_fakes import SLOW_RECONNECT, Clock

from aihubd_client.resume import Deadline, Outage, ReconnectPolicy

POLICY = SLOW_RECONNECT


def test_a_wait_that_never_connected_does_not_retry():
    outage = Outage(POLICY, Clock())
    assert not outage.ever_connected
    assert outage.lost() is None


def test_pauses_grow_and_the_outage_ends_after_the_window():
    clock = Clock()
    outage = Outage(POLICY, clock)
    outage.connected()
    pauses = []
    while (pause := outage.lost()) is not None:
        pauses.append(pause)
        clock.now += pause  # each attempt fails at once
    assert pauses[:4] == [0.5, 1.0, 2.0, 2.0]
    assert abs(sum(pauses) - 10.0) < 1e-9  # exactly the window, the last pause cut short


def test_a_stream_that_stayed_up_starts_a_new_outage():
    clock = Clock()
    outage = Outage(POLICY, clock)
    outage.connected()
    clock.now += 60
    assert outage.lost() == 0.5
    clock.now += 9  # most of the window spent reconnecting
    outage.connected()
    clock.now += 6  # up for longer than stable_after
    assert outage.lost() == 0.5  # a fresh window and a fresh pause
    clock.now += 9.9
    assert outage.lost() is not None


def test_a_flapping_daemon_does_not_reset_the_window():
    clock = Clock()
    outage = Outage(POLICY, clock)
    outage.connected()
    assert outage.lost() == 0.5
    for _ in range(20):  # each new stream ends at once (a daemon that keeps stopping)
        clock.now += 1
        outage.connected()
        if outage.lost() is None:
            break
    assert clock.now - 100.0 <= 11


def test_window_zero_disables_reconnecting():
    outage = Outage(ReconnectPolicy(window=0), Clock())
    outage.connected()
    assert outage.lost() is None


def test_deadline():
    clock = Clock()
    assert Deadline(None, clock).remaining() is None and not Deadline(0, clock).expired()
    deadline = Deadline(3, clock)
    assert deadline.remaining() == 3 and deadline.seconds == 3
    clock.now += 5
    assert deadline.remaining() == 0 and deadline.expired()
