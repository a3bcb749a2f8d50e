"""Building ``SubmitLinkJob`` requests, and how a submit rides out Hub trouble.

A submit carries a ``request_id`` (an idempotency key). When the daemon answers UNAVAILABLE
because the Hub is unreachable (``HubUnavailableError``, not a stopped daemon), the client tries
again after a pause with the **same** request id: the daemon never creates a second Hub job for
one id, it returns the job the first attempt created.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .inputs import ModelArg, device_names, model_inputs, project_id

__all__ = ["SUBMIT_BACKOFF", "submit_requests"]

# Pauses between attempts when the daemon reports the Hub unavailable: four attempts in all.
SUBMIT_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0)


def submit_requests(
    models: ModelArg | Iterable[ModelArg],
    device: Any,
    name: str | None,
    options: str,
    project: Any,
    request_id: str | None,
) -> list[pb.SubmitLinkJobRequest]:
    """One request per device, every argument checked first (nothing is sent on a bad one).

    With several devices each request gets its own id, derived from ``request_id``.
    """
    inputs = model_inputs(models)
    names = device_names(device)
    key = request_id or uuid.uuid4().hex
    return [
        pb.SubmitLinkJobRequest(
            models=inputs,
            device=device_name,
            name=name or "",
            options=(options or "").strip(),
            project_id=project_id(project),
            request_id=key if len(names) == 1 else f"{key}-{index}",
        )
        for index, device_name in enumerate(names)
    ]
