"""What a 401 does to Hub traffic: park it, re-probe with capped backoff, resume when the Hub answers.

A 401 stops every Hub request (no point hammering the Hub with a token it rejects), but not
forever: a 401 can be transient (the Hub's auth backend hiccups) or the user may fix the token.
While parked, a request that arrives when a probe is due first re-probes ``users/auth/user``;
probes are spaced ``first``, ``first*growth``, ... up to ``cap`` seconds apart, and a changed
credential makes the next probe due at once. Pure state over an injected clock value.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuthGate", "AuthState"]


@dataclass(frozen=True)
class AuthState:
    """``parked`` with when it started, why, and when the next probe is due (clock values)."""

    parked: bool
    error: str = ""
    since: float | None = None
    next_probe: float | None = None


class AuthGate:
    def __init__(self, *, first: float = 2.0, cap: float = 300.0, growth: float = 2.0) -> None:
        if first <= 0 or cap < first or growth < 1:
            raise ValueError("the auth re-probe backoff needs 0 < first <= cap and growth >= 1")
        self._first, self._cap, self._growth = first, cap, growth
        self._error = ""
        self._since: float | None = None
        self._delay = 0.0
        self._next_probe = 0.0

    @property
    def parked(self) -> bool:
        return self._since is not None

    @property
    def error(self) -> str:
        return self._error

    def state(self) -> AuthState:
        if self._since is None:
            return AuthState(parked=False)
        return AuthState(parked=True, error=self._error, since=self._since, next_probe=self._next_probe)

    def rejected(self, message: str, now: float) -> None:
        """The Hub answered 401 (to a request or a probe): park, or push the next probe further out."""
        if self._since is None:
            self._since, self._delay = now, self._first
        else:
            self._delay = min(self._cap, self._delay * self._growth)
        self._error = message
        self._next_probe = now + self._delay

    def probe_failed(self, now: float) -> None:
        """A probe could not reach the Hub: try again after the current delay, without growing it."""
        if self._since is not None:
            self._next_probe = now + self._delay

    def probe_due(self, now: float) -> bool:
        return self._since is not None and now >= self._next_probe

    def credentials_changed(self, now: float) -> None:
        """New credentials: probe them at once (the backoff starts over if they fail too)."""
        if self._since is not None:
            self._next_probe = now
            self._delay = self._first / self._growth

    def resumed(self) -> None:
        self._since, self._error, self._delay = None, "", 0.0
