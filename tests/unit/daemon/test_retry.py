"""Retry-After parsing and full-jitter backoff bounds."""

from __future__ import annotations

import random

from aihubd.hub.retry import RetryPolicy, parse_retry_after


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_is_never_shorter_than_the_official_clients_and_jitters_upward() -> None:
    """The official client's read backoff (urllib3, factor 0.75): 0, 1.5, 3, 6, 12, 24 s."""
    official = [0.0, 1.5, 3.0, 6.0, 12.0, 24.0]
    policy, rng = RetryPolicy(), random.Random(7)
    assert policy.attempts >= 7 and policy.patience() >= sum(official)
    for attempt, theirs in enumerate(official):
        step = min(policy.cap, policy.base * 2**attempt)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(theirs <= step <= d <= step * (1 + policy.jitter) for d in delays)
        assert max(delays) - min(delays) > step * policy.jitter * 0.8  # spread: no lock-step retries
