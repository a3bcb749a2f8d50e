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

__all__ = [
    "DEFAULT_LARGE_FILE_BYTES",
    "DEFAULT_PART_BYTES",
    "TRANSFER_MODES",
    "ConfiguredToken",
    "EmulatorConfig",
    "FaultConfig",
    "derived_email",
    "parse_tokens",
]

EMAIL_DOMAIN = "emulator.invalid"
TRANSFER_MODES = ("url", "multipart", "credentials", "mixed")
# The tests' "large" models (>= 1 MiB) cross it; their small ones (a few KiB) and the logs do not.
DEFAULT_LARGE_FILE_BYTES = 1 << 20
# S3's smallest multipart part (all but the last part must be at least this big).
DEFAULT_PART_BYTES = 5 << 20


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator instance.

    link_seconds: total time a link job takes when jobs advance on their own;
        the first half is spent in CREATED, the second half in LINKING_MODELS.
    manual: when True jobs never advance on their own, only through
        ``POST /_emulator/jobs/{job_id}/advance`` (or ``HubEmulator.advance``).
    state_dir: where blobs (and ``state.json``, the persisted metadata) live;
        None means a temporary directory removed at ``stop()``.
    tokens: optional allow-list; entries are ``"token"``, ``"token:email"`` or
        ``"token:email:org"``. When given, any other token gets 401. When None, every
        non-empty token is accepted and becomes its own user. Users of one ``org``
        see each other's jobs: a listing without ``creator`` covers the organization.
    url_ttl_seconds: lifetime of signed blob URLs.
    chunk_size: chunk size of the emulated link container (see ``linker``).
    faults: the fault injection in force at start (see ``faults``); the default
        injects nothing. Replaceable at runtime (``HubEmulator.set_faults``). A dict
        is accepted and converted with ``FaultConfig.from_json``.
    transfer: how transfer requests that carry ``supports_s3_credentials=true`` are
        answered (without it: the bare pre-0.52 messages, always by URL). ``url``:
        one URL; ``multipart``: uploads in parts of ``part_bytes``; ``credentials``:
        single-object S3 credentials on the emulator's moto S3 endpoint; ``mixed``:
        files below ``large_file_bytes`` by one URL, larger ones alternately by
        credentials and by multipart URLs (uploads) or one URL (downloads).
    large_file_bytes: the ``mixed`` threshold.
    part_bytes: the part size of multipart uploads (all parts but the last).
    credentials_ttl_seconds: lifetime of handed-out S3 credentials.
    omit_total_query_count: leave ``total_query_count`` unset in listings.
    omit_last_updated_time: leave ``last_updated_time`` unset in job summaries.
    """

    link_seconds: float = 3.0
    manual: bool = False
    state_dir: str | Path | None = None
    tokens: list[str] | tuple[str, ...] | None = None
    url_ttl_seconds: float = 3600.0
    chunk_size: int = 4096
    faults: FaultConfig = field(default_factory=FaultConfig)
    transfer: str = "mixed"
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES
    part_bytes: int = DEFAULT_PART_BYTES
    credentials_ttl_seconds: float = 900.0
    omit_total_query_count: bool = False
    omit_last_updated_time: bool = False

    @property
    def uses_s3(self) -> bool:
        """Whether this emulator hands out S3 credentials (and so runs an S3 endpoint)."""
        return self.transfer in ("credentials", "mixed")

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
        if self.transfer not in TRANSFER_MODES:
            raise ValueError(f"transfer must be one of {', '.join(TRANSFER_MODES)}, not {self.transfer!r}")
        if self.large_file_bytes < 0:
            raise ValueError("large_file_bytes must be >= 0")
        if self.part_bytes <= 0:
            raise ValueError("part_bytes must be > 0")
        if self.credentials_ttl_seconds <= 0:
            raise ValueError("credentials_ttl_seconds must be > 0")
        if self.tokens is not None:
            parse_tokens(self.tokens)  # validate early


@dataclass(frozen=True)
class ConfiguredToken:
    """One allow-listed token, the email of its user and its organization ("" for none)."""

    token: str
    email: str
    org: str = ""


def derived_email(token: str) -> str:
    """The deterministic email of the user behind ``token``."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"u{digest[:8]}@{EMAIL_DOMAIN}"


def parse_tokens(entries: list[str] | tuple[str, ...]) -> list[ConfiguredToken]:
    """Parse ``"token"`` / ``"token:email"`` / ``"token:email:org"`` entries; raise
    ValueError on bad ones."""
    parsed: list[ConfiguredToken] = []
    for entry in entries:
        token, sep, rest = entry.partition(":")
        email, _, org = rest.partition(":")
        token, email, org = token.strip(), email.strip(), org.strip()
        if not token:
            raise ValueError("empty token in the emulator's token list")
        if sep and ("@" not in email):
            raise ValueError(f"bad email for a configured token: {email!r}")
        parsed.append(ConfiguredToken(token, email if sep else derived_email(token), org))
    return parsed
