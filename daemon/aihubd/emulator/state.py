"""The emulator's in-memory state: users, models, jobs, visibility and job life cycle.

Everything here is synchronous and runs on the server's event loop.

Users: each distinct token is a user (``config.derived_email`` unless the
allow-list names an email). Visibility: a job is visible to its owner and to the
emails it is shared with; a model is visible to its owner, to the emails it is
shared with, and to anyone who can see a job that uses it as input or target.
Anything invisible is reported as 404.

Job life cycle: CREATED -> LINKING_MODELS -> DONE | FAILED. In automatic mode each
of the two non-terminal states lasts ``link_seconds / 2``; states are computed
lazily (``refresh``) from ``phase_started`` whenever a job is read, and the
transition timestamps are the scheduled times, not the time of the read. In
manual mode only ``advance`` moves a job, one step per call.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import string
import time
from collections.abc import Callable, Iterable
from typing import Any

from .config import EmulatorConfig, derived_email, parse_tokens
from .errors import BadRequest, Forbidden, NotFound
from .records import (
    CREATED,
    DONE,
    FAILED,
    LINKING_MODELS,
    JobRecord,
    ModelRecord,
    UserRecord,
)

__all__ = ["EmulatorState", "token_digest"]

_ID_ALPHABET = string.ascii_lowercase + string.digits
_SNAPSHOT_VERSION = 1


def token_digest(token: str) -> str:
    """SHA-256 hex of a token; the only form in which tokens are kept."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class EmulatorState:
    """Users, models and jobs of one emulator."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.secret = os.urandom(32)
        self.users: dict[int, UserRecord] = {}
        self.models: dict[str, ModelRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.dirty = False
        self._by_token: dict[str, int] = {}
        self._model_jobs: dict[str, set[str]] = {}
        self._reserved: set[str] = set()
        self._next_user_id = 1
        self._next_seq = 1
        self._allowed: dict[str, tuple[str, int]] | None = None
        if config.tokens is not None:
            org_ids: dict[str, int] = {}
            self._allowed = {}
            for entry in parse_tokens(config.tokens):
                org_id = org_ids.setdefault(entry.org, len(org_ids) + 1) if entry.org else 0
                self._allowed[token_digest(entry.token)] = (entry.email, org_id)
            for digest, (email, org_id) in self._allowed.items():
                self._register(digest, email, org_id)

    # ----------------------------------------------------------------- users
    def _register(self, digest: str, email: str, org_id: int = 0) -> UserRecord:
        user = UserRecord(self._next_user_id, email, digest, org_id)
        self._next_user_id += 1
        self.users[user.user_id] = user
        self._by_token[digest] = user.user_id
        self.dirty = True
        return user

    def authenticate(self, token: str) -> UserRecord | None:
        """The user behind ``token`` (created on first sight), or None if refused."""
        if not token:
            return None
        digest = token_digest(token)
        if self._allowed is not None and digest not in self._allowed:
            return None
        user_id = self._by_token.get(digest)
        if user_id is not None:
            return self.users[user_id]
        if self._allowed is not None:
            return self._register(digest, *self._allowed[digest])
        return self._register(digest, derived_email(token))

    def email_of_token(self, token: str) -> str:
        """The email of the known user behind ``token``, "" if none (registers nobody)."""
        user_id = self._by_token.get(token_digest(token)) if token else None
        return self.users[user_id].email if user_id is not None else ""

    def email_known(self, email: str) -> bool:
        return any(user.email == email for user in self.users.values())

    # ------------------------------------------------------------------- ids
    def new_id(self, prefix: str) -> str:
        """A fresh Hub-style id such as ``jq1w2e3r4``; reserved until used."""
        while True:
            candidate = prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
            if candidate not in self.jobs and candidate not in self.models and candidate not in self._reserved:
                self._reserved.add(candidate)
                return candidate

    # ------------------------------------------------------------ visibility
    def same_org(self, user: UserRecord, owner_id: int) -> bool:
        """Whether ``user`` and the user ``owner_id`` are colleagues in one organization."""
        return user.org_id != 0 and self.users[owner_id].org_id == user.org_id

    def can_see_job(self, user: UserRecord, job: JobRecord) -> bool:
        return job.owner_id == user.user_id or user.email in job.shared_with or self.same_org(user, job.owner_id)

    def can_see_model(self, user: UserRecord, model: ModelRecord) -> bool:
        if model.owner_id == user.user_id or user.email in model.shared_with:
            return True
        return any(self.can_see_job(user, self.jobs[job_id]) for job_id in self._model_jobs.get(model.model_id, ()))

    def visible_job(self, user: UserRecord, job_id: str) -> JobRecord:
        job = self.jobs.get(job_id)
        if job is None or not self.can_see_job(user, job):
            raise NotFound(f"Job {job_id} not found.")
        self.refresh(job)
        return job

    def visible_model(self, user: UserRecord, model_id: str) -> ModelRecord:
        model = self.models.get(model_id)
        if model is None or not self.can_see_model(user, model):
            raise NotFound(f"Model {model_id} not found.")
        if model.producer_id and model.producer_id in self.jobs:
            self.refresh(self.jobs[model.producer_id])
        return model

    # ---------------------------------------------------------------- models
    def list_models(self, user: UserRecord, project_id: str | None = None) -> list[ModelRecord]:
        """Models this user sees, newest first (``project_id``: only that project's)."""
        found = [
            m
            for m in self.models.values()
            if self.can_see_model(user, m) and (project_id is None or m.project_id == project_id)
        ]
        found.sort(key=lambda m: m.creation_time, reverse=True)
        return found

    def create_model(
        self,
        user: UserRecord,
        name: str,
        model_type: int,
        is_directory: bool,
        project_id: str | None,
    ) -> ModelRecord:
        model_id = self.new_id("m")
        model = ModelRecord(
            model_id=model_id,
            owner_id=user.user_id,
            name=name,
            model_type=model_type,
            creation_time=self.clock(),
            is_directory=is_directory,
            project_id=project_id,
        )
        self._reserved.discard(model_id)
        self.models[model_id] = model
        self.dirty = True
        return model

    def _owned_upload_target(self, user: UserRecord, model_id: str) -> ModelRecord:
        model = self.visible_model(user, model_id)
        if model.owner_id != user.user_id:
            raise Forbidden(f"Only the owner of model {model_id} can upload to it.")
        if model.producer_id:
            raise BadRequest(f"Model {model_id} is produced by job {model.producer_id}.")
        return model

    def start_upload(self, user: UserRecord, model_id: str) -> ModelRecord:
        """Begin a (new) multipart upload of a model's file."""
        model = self._owned_upload_target(user, model_id)
        if model.has_content:
            raise BadRequest(f"Model {model_id} has already been uploaded.")
        model.upload_id = "up-" + secrets.token_hex(8)
        model.parts = {}
        self.dirty = True
        return model

    def record_part(self, model_id: str, upload_id: str, part: int, etag: str) -> None:
        model = self.models.get(model_id)
        if model is None or model.upload_id != upload_id or model.has_content:
            raise NotFound("No such upload.")
        model.parts[str(part)] = etag
        self.dirty = True

    def upload_exists(self, model_id: str, upload_id: str) -> bool:
        model = self.models.get(model_id)
        return model is not None and model.upload_id == upload_id and not model.has_content

    def parts_to_complete(
        self, user: UserRecord, model_id: str, upload_id: str | None, etags: list[str] | None
    ) -> list[int] | None:
        """Part numbers to assemble, in order; None if this upload already completed.

        ``upload_id``/``etags`` None means the credentials-path ``upload_complete``:
        every received part, in part order.
        """
        model = self._owned_upload_target(user, model_id)
        if model.has_content:
            if upload_id is None or upload_id == model.upload_id:
                return None
            raise BadRequest(f"Model {model_id} has already been uploaded.")
        if upload_id is None or etags is None:
            return sorted(int(number) for number in model.parts)
        if model.upload_id is None or upload_id != model.upload_id:
            raise BadRequest(f"Unknown upload id for model {model_id}.")
        for index, etag in enumerate(etags, start=1):
            stored = model.parts.get(str(index))
            if stored is None or stored.strip('"') != etag.strip('"'):
                raise BadRequest(f"ETag of part {index} does not match the uploaded part.")
        return list(range(1, len(etags) + 1))

    def finish_upload(self, model: ModelRecord, size: int, sha256: str) -> None:
        model.has_content = True
        model.size = size
        model.sha256 = sha256
        model.parts = {}
        self.dirty = True

    # ------------------------------------------------------------------ jobs
    def add_job(self, job: JobRecord, target: ModelRecord | None) -> None:
        """Register a new job (and its seeded target model)."""
        job.seq = self._next_seq
        self._next_seq += 1
        job.phase_started = job.creation_time
        job.last_updated_time = job.creation_time
        self._reserved.discard(job.job_id)
        self.jobs[job.job_id] = job
        if target is not None:
            self._reserved.discard(target.model_id)
            self.models[target.model_id] = target
            self._model_jobs.setdefault(target.model_id, set()).add(job.job_id)
        for model_id in job.model_ids:
            self._model_jobs.setdefault(model_id, set()).add(job.job_id)
        self.dirty = True
        self.refresh(job)

    def refresh(self, job: JobRecord) -> None:
        """Apply every automatic transition that is due (never in manual mode)."""
        if self.config.manual or job.terminal:
            return
        phase = self.config.link_seconds / 2
        now = self.clock()
        while not job.terminal and now >= job.phase_started + phase:
            self._step(job, job.phase_started + phase)

    def _step(self, job: JobRecord, at: float) -> None:
        if job.state == CREATED:
            job.state = LINKING_MODELS
            job.start_time = at
        elif job.state == LINKING_MODELS:
            job.state = FAILED if job.planned_failure else DONE
            job.completion_time = at
            target = self.models.get(job.target_model_id or "")
            if job.state == DONE and target is not None:
                target.has_content = True
        else:
            return
        job.phase_started = at
        job.last_updated_time = at
        self.dirty = True

    def advance(self, job_id: str) -> JobRecord:
        """Move a job one step now (any mode); a terminal job stays as it is."""
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"Job {job_id} not found.")
        self.refresh(job)
        if not job.terminal:
            self._step(job, max(self.clock(), job.last_updated_time))
        return job

    def list_jobs(
        self,
        user: UserRecord,
        project_id: str | None = None,
        creator: str | None = None,
        states: set[int] | None = None,
        link_only: bool = True,
    ) -> list[JobRecord]:
        """Visible jobs matching the filters, newest first."""
        if not link_only:
            return []
        result = []
        for job in self.jobs.values():
            if not self.can_see_job(user, job):
                continue
            if project_id is not None and job.project_id != project_id:
                continue
            if creator is not None and self.users[job.owner_id].email != creator:
                continue
            self.refresh(job)
            if states is not None and job.state not in states:
                continue
            result.append(job)
        result.sort(key=lambda job: (job.creation_time, job.seq), reverse=True)
        return result

    def rename_job(self, user: UserRecord, job_id: str, name: str) -> JobRecord:
        job = self.visible_job(user, job_id)
        if job.owner_id != user.user_id:
            raise Forbidden(f"Only the owner of job {job_id} can rename it.")
        job.name = name
        job.last_updated_time = max(self.clock(), job.last_updated_time)
        self.dirty = True
        return job

    # --------------------------------------------------------------- sharing
    def _shareable(self, user: UserRecord, kind: str, entity_id: str) -> JobRecord | ModelRecord:
        if kind == "jobs":
            return self.visible_job(user, entity_id)
        return self.visible_model(user, entity_id)

    def sharing(self, user: UserRecord, kind: str, entity_id: str) -> list[str]:
        return list(self._shareable(user, kind, entity_id).shared_with)

    def modify_sharing(
        self,
        user: UserRecord,
        kind: str,
        entity_id: str,
        add: Iterable[str],
        remove: Iterable[str],
    ) -> None:
        entity = self._shareable(user, kind, entity_id)
        if entity.owner_id != user.user_id:
            raise Forbidden(f"Only the owner of {entity_id} can change its sharing.")
        add, remove = list(add), list(remove)
        for email in add:
            if not self.email_known(email):
                raise BadRequest(f"Email not found: {email}")
        for email in add:
            if email not in entity.shared_with and email != user.email:
                entity.shared_with.append(email)
        entity.shared_with[:] = [e for e in entity.shared_with if e not in set(remove)]
        self.dirty = True

    def disable_sharing(self, user: UserRecord, kind: str, entity_id: str) -> None:
        entity = self._shareable(user, kind, entity_id)
        if entity.owner_id != user.user_id:
            raise Forbidden(f"Only the owner of {entity_id} can change its sharing.")
        entity.shared_with.clear()
        self.dirty = True

    # ----------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the whole state (tokens only as digests)."""
        return {
            "version": _SNAPSHOT_VERSION,
            "secret": self.secret.hex(),
            "next_user_id": self._next_user_id,
            "next_seq": self._next_seq,
            "users": [user.to_dict() for user in self.users.values()],
            "models": [model.to_dict() for model in self.models.values()],
            "jobs": [job.to_dict() for job in self.jobs.values()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot; configured tokens not in it are registered afresh."""
        if data.get("version") != _SNAPSHOT_VERSION:
            raise ValueError("unsupported emulator state version")
        self.secret = bytes.fromhex(data["secret"])
        self.users = {}
        self._by_token = {}
        for item in data["users"]:
            user = UserRecord.from_dict(item)
            self.users[user.user_id] = user
            self._by_token[user.token_sha256] = user.user_id
        self.models = {m["model_id"]: ModelRecord.from_dict(m) for m in data["models"]}
        self.jobs = {j["job_id"]: JobRecord.from_dict(j) for j in data["jobs"]}
        self._next_user_id = max([data["next_user_id"], *(u + 1 for u in self.users)])
        self._next_seq = max([data["next_seq"], *(j.seq + 1 for j in self.jobs.values())])
        self._model_jobs = {}
        for job in self.jobs.values():
            for model_id in [*job.model_ids, job.target_model_id]:
                if model_id:
                    self._model_jobs.setdefault(model_id, set()).add(job.job_id)
        if self._allowed is not None:
            for digest, (email, org_id) in self._allowed.items():
                if digest not in self._by_token:
                    self._register(digest, email, org_id)
        self.dirty = False
