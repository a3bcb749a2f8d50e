"""``JobStatus``: a job's state as the official ``qai_hub.client.JobStatus`` reports it."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from aihubd_api.v1 import aihubd_pb2 as pb

__all__ = ["JobStatus", "State"]


class State(IntEnum):
    """Job states under the official client's names (DONE is SUCCESS); values are the wire's."""

    UNSPECIFIED = pb.JOB_STATE_UNSPECIFIED
    CREATED = pb.JOB_STATE_CREATED
    SUCCESS = pb.JOB_STATE_DONE
    FAILED = pb.JOB_STATE_FAILED
    OPTIMIZING_MODEL = pb.JOB_STATE_OPTIMIZING_MODEL
    PROVISIONING_DEVICE = pb.JOB_STATE_PROVISIONING_DEVICE
    MEASURING_PERFORMANCE = pb.JOB_STATE_MEASURING_PERFORMANCE
    RUNNING_INFERENCE = pb.JOB_STATE_RUNNING_INFERENCE
    QUANTIZING_MODEL = pb.JOB_STATE_QUANTIZING_MODEL
    LINKING_MODELS = pb.JOB_STATE_LINKING_MODELS

    @classmethod
    def _missing_(cls, value: object) -> State:
        # Like the official client: an unknown value reads as UNSPECIFIED (a running state).
        return cls.UNSPECIFIED


_State = State  # inside JobStatus, ``State`` names the class attribute


class JobStatus(str):
    """A job status that equals its code string (``status == "SUCCESS"``).

    ``pending`` is CREATED, ``finished`` is SUCCESS or FAILED, ``running`` is any other state.
    ``message`` is the Hub's failure reason for a FAILED job, else ``""``.
    """

    State: ClassVar[type[_State]]  # assigned below: ``JobStatus.State.SUCCESS`` as in qai_hub

    _state: _State
    _message: str
    _code: str  # ``_state.name`` and ``finished``, worked out once: a wait reads them per change
    _finished: bool

    def __new__(cls, state: int | str, message: str = "") -> JobStatus:
        """Build from a wire value (``10``) or a code (``"SUCCESS"``)."""
        if isinstance(state, str):
            try:
                resolved = State[str.__str__(state)]
            except KeyError:
                raise ValueError(f"unknown job status code {state!r}") from None
        else:
            resolved = State(state)
        self = super().__new__(cls, resolved.name)
        self._state = resolved
        self._message = message or ""
        self._code = resolved.name
        self._finished = resolved in (State.SUCCESS, State.FAILED)
        return self

    def __getnewargs__(self) -> tuple[int, str]:  # type: ignore[override]
        return (int(self._state), self._message)

    def __repr__(self) -> str:
        return f"JobStatus({self.code!r}, message={self._message!r})"

    @property
    def code(self) -> str:
        """The status code, e.g. ``"LINKING_MODELS"``."""
        return self._code

    @property
    def state(self) -> _State:
        """The state as an ``int`` enum (wire values: SUCCESS is 10)."""
        return self._state

    @property
    def message(self) -> str:
        """The failure reason when FAILED, else ``""``."""
        return self._message

    @property
    def success(self) -> bool:
        """The job finished successfully."""
        return self._state is State.SUCCESS

    @property
    def failure(self) -> bool:
        """The job failed."""
        return self._state is State.FAILED

    @property
    def finished(self) -> bool:
        """The job reached a terminal state (SUCCESS or FAILED)."""
        return self._finished

    @property
    def pending(self) -> bool:
        """The job is waiting to start (CREATED)."""
        return self._state is State.CREATED

    @property
    def running(self) -> bool:
        """The job is neither pending nor finished."""
        return not (self.pending or self.finished)


JobStatus.State = State
