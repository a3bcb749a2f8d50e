"""Plain records of the emulator's state (users, models, jobs) and their JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ARTIFACT_DEVICE_LOG",
    "ARTIFACT_HUB_LOG",
    "CREATED",
    "DONE",
    "FAILED",
    "LINKING_MODELS",
    "MODEL_TYPE_QNN_CONTEXT_BINARY",
    "MODEL_TYPE_QNN_DLC",
    "TERMINAL_STATES",
    "JobRecord",
    "ModelRecord",
    "UserRecord",
]

CREATED = 1
LINKING_MODELS = 100
DONE = 10
FAILED = 30
TERMINAL_STATES = frozenset({DONE, FAILED})

MODEL_TYPE_QNN_CONTEXT_BINARY = 11
MODEL_TYPE_QNN_DLC = 15

ARTIFACT_DEVICE_LOG = 1
ARTIFACT_HUB_LOG = 5


@dataclass
class UserRecord:
    """A user; the token itself is never stored, only its SHA-256."""

    user_id: int
    email: str
    token_sha256: str
    org_id: int = 0  # 0: in no organization

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserRecord:
        return cls(**data)


@dataclass
class ModelRecord:
    """A model: an uploaded input or a link job's target."""

    model_id: str
    owner_id: int
    name: str
    model_type: int
    creation_time: float
    is_directory: bool = False
    project_id: str | None = None
    producer_id: str | None = None
    upload_id: str | None = None
    parts: dict[str, str] = field(default_factory=dict)  # part number -> ETag
    has_content: bool = False
    size: int = 0
    sha256: str = ""
    shared_with: list[str] = field(default_factory=list)
    graph_names: list[str] = field(default_factory=list)
    s3_upload_key: str | None = None  # the object a credentials upload goes to

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        return cls(**data)


@dataclass
class JobRecord:
    """A link job and its life cycle.

    ``phase_started`` is when the current state was entered; in automatic mode a
    state lasts ``link_seconds / 2``. ``planned_failure`` is decided at creation
    and shown as ``failure_reason`` once the job is FAILED.
    """

    job_id: str
    seq: int
    owner_id: int
    name: str
    options: str
    device: dict[str, Any]
    model_ids: list[str]
    creation_time: float
    project_id: str | None = None
    state: int = CREATED
    phase_started: float = 0.0
    start_time: float | None = None
    completion_time: float | None = None
    last_updated_time: float = 0.0
    planned_failure: str | None = None
    target_model_id: str | None = None
    shared_with: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        return cls(**data)
