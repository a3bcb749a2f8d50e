"""Test/admin endpoints under ``/_emulator/``: no auth, never counted, JSON replies.

* ``GET  /_emulator/health``                 -> ``{"status": "ok", "users": n, "models": n, "jobs": n}``
* ``GET  /_emulator/counters``               -> ``{"<METHOD> <template>": count, ...}``
* ``GET  /_emulator/counters/jobs``          -> ``{"<job_id>": GET count, ...}``
* ``POST /_emulator/counters/reset``         -> ``{"reset": true}``
* ``POST /_emulator/jobs/{job_id}/advance``  -> ``{"job_id": ..., "state": int, "state_name": ...}``
"""

from __future__ import annotations

from aiohttp import web

from .errors import HubError
from .records import CREATED, DONE, FAILED, LINKING_MODELS
from .web_util import COUNTERS, STATE, json_error

__all__ = ["add_admin_routes", "STATE_NAMES"]

STATE_NAMES = {
    CREATED: "CREATED",
    LINKING_MODELS: "LINKING_MODELS",
    DONE: "DONE",
    FAILED: "FAILED",
}


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {"status": "ok", "users": len(state.users), "models": len(state.models), "jobs": len(state.jobs)}
    )


async def counters(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNTERS].endpoints())


async def job_counters(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNTERS].job_gets())


async def reset_counters(request: web.Request) -> web.Response:
    request.app[COUNTERS].reset()
    return web.json_response({"reset": True})


async def advance(request: web.Request) -> web.Response:
    try:
        job = request.app[STATE].advance(request.match_info["job_id"])
    except HubError as exc:
        return json_error(exc.status, exc.detail)
    return web.json_response(
        {"job_id": job.job_id, "state": job.state, "state_name": STATE_NAMES.get(job.state, "")}
    )


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/health", health)
    router.add_get("/_emulator/counters", counters)
    router.add_get("/_emulator/counters/jobs", job_counters)
    router.add_post("/_emulator/counters/reset", reset_counters)
    router.add_post("/_emulator/jobs/{job_id}/advance", advance)
