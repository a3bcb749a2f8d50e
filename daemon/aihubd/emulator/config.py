"""Configuration of the Hub emulator.

`EmulatorConfig` is a frozen dataclass; every field has a default so
``EmulatorConfig()`` gives a usable emulator with a temporary state directory,
3-second link jobs and open sign-up (every distinct token is a distinct user).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .faults import FaultConfig

__all__ = ["ConfiguredToken", "EmulatorConfig", "FaultConfig", "derived_email", "parse_tokens"]

EMAIL_DOMAIN = "emulator.invalid"


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator instance.

    link_seconds: total time a link job takes when jobs advance on their own;
        the first half is spent in CREATED, the second half in LINKING_MODELS.
    manual: when True jobs never advance on their own, only through
        ``POST /_emulator/jobs/{job_id}/advance`` (or ``HubEmulator.advance``).
    state_dir: where blobs (and ``state.json``, the persisted metadata) live;
        None means a temporary directory removed at ``stop()``.
    tokens: optional allow-list; entries are ``"token"`` or ``"token:email"``.
        When given, any other token gets 401. When None, every non-empty token
        is accepted and becomes its own user.
    url_ttl_seconds: lifetime of signed blob URLs.
    chunk_size: chunk size of the emulated link container (see ``linker``).
    faults: the fault injection in force at start (see ``faults``); the default
        injects nothing. Replaceable at runtime (``HubEmulator.set_faults``). A dict
        is accepted and converted with ``FaultConfig.from_json``.
    """

    link_seconds: float = 3.0
    manual: bool = False
    state_dir: str | Path | None = None
    tokens: list[str] | tuple[str, ...] | None = None
    url_ttl_seconds: float = 3600.0
    chunk_size: int = 4096
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if isinstance(self.faults, dict):
            object.__setattr__(self, "faults", FaultConfig.from_json(self.faults))
        if not isinstance(self.faults, FaultConfig):
            raise ValueError("faults must be a FaultConfig")
        if self.link_seconds < 0:
            raise ValueError("link_seconds must be >= 0")
        if self.url_ttl_seconds <= 0:
            raise ValueError("url_ttl_seconds must be > 0")
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        if self.tokens is not None:
            parse_tokens(self.tokens)  # validate early


@dataclass(frozen=True)
class ConfiguredToken:
    """One allow-listed token and the email of its user."""

    token: str
    email: str


def derived_email(token: str) -> str:
    """The deterministic email of the user behind ``token``."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"u{digest[:8]}@{EMAIL_DOMAIN}"


def parse_tokens(entries: list[str] | tuple[str, ...]) -> list[ConfiguredToken]:
    """Parse ``"token"`` / ``"token:email"`` entries; raise ValueError on bad ones."""
    parsed: list[ConfiguredToken] = []
    for entry in entries:
        token, sep, email = entry.partition(":")
        token = token.strip()
        email = email.strip()
        if not token:
            raise ValueError("empty token in the emulator's token list")
        if sep and ("@" not in email):
            raise ValueError(f"bad email for a configured token: {email!r}")
        parsed.append(ConfiguredToken(token, email if sep else derived_email(token)))
    return parsed
