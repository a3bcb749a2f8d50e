"""Retry-After parsing and full-jitter backoff bounds."""

from __future__ import annotations

import random

from aihubd.hub.retry import RetryPolicy, parse_retry_after


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    policy, rng = RetryPolicy(base=0.5, cap=8.0), random.Random(7)
    for attempt in range(10):
        bound = min(8.0, 0.5 * 2**attempt)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # the spread reaches the bound
