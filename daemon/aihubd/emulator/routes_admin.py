"""Test/admin endpoints under ``/_emulator/``: no auth, never counted, JSON replies.

* ``GET  /_emulator/health``                 -> ``{"status": "ok", "users": n, "models": n, "jobs": n}``
* ``GET  /_emulator/counters``               -> ``{"<METHOD> <template>": count, ...}``
* ``GET  /_emulator/counters/jobs``          -> ``{"<job_id>": GET count, ...}``
* ``POST /_emulator/counters/reset``         -> ``{"reset": true}``
* ``POST /_emulator/jobs/{job_id}/advance``  -> ``{"job_id": ..., "state": int, "state_name": ...}``
* ``GET  /_emulator/faults``                 -> ``{"config": {FaultConfig fields}, "counts": {kind: n},
  "revoked_tokens": n}``
* ``PUT  /_emulator/faults``                 body: a JSON object with any FaultConfig fields
  (the others take their defaults); replaces the config; same reply as GET; 400 when invalid
* ``DELETE /_emulator/faults``               back to no faults (counts and revoked tokens
  are kept); same reply as GET
* ``POST /_emulator/tokens/revoke``          body ``{"token": "..."}`` -> ``{"revoked": true,
  "revoked_tokens": n}``
* ``POST /_emulator/tokens/restore``         body ``{"token": "..."}`` -> ``{"restored": bool,
  "revoked_tokens": n}`` (``restored`` is false when the token was not revoked)

* ``GET  /_emulator/requests[?client=EMAIL]`` -> ``{"requests": [{"client", "method", "path",
  "query", "headers", "status"}, ...]}`` the request log (see ``requestlog``), oldest first
* ``DELETE /_emulator/requests``             clears it -> ``{"cleared": true}``
* ``POST /_emulator/s3/aliases``             body ``{"access_key_id", "session_token", "like"}``:
  those keys may do what the handed-out credential ``like`` (an access key id) may, for tests
  that swap credentials for canaries -> ``{"aliased": bool}`` (404 without an S3 endpoint)

Fault counts are cleared with the other counters (``/_emulator/counters/reset``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import BadRequest, HubError
from .faults import FaultConfig
from .records import CREATED, DONE, FAILED, LINKING_MODELS
from .web_util import COUNTERS, FAULTS, REQUEST_LOG, S3, STATE, json_error

__all__ = ["STATE_NAMES", "add_admin_routes"]

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
    return web.json_response({"job_id": job.job_id, "state": job.state, "state_name": STATE_NAMES.get(job.state, "")})


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The body must be a JSON object.") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


def _faults_reply(request: web.Request) -> web.Response:
    injector = request.app[FAULTS]
    return web.json_response(
        {
            "config": injector.config.to_json(),
            "counts": request.app[COUNTERS].faults(),
            "revoked_tokens": injector.revoked_count(),
        }
    )


async def get_faults(request: web.Request) -> web.Response:
    return _faults_reply(request)


async def put_faults(request: web.Request) -> web.Response:
    try:
        config = FaultConfig.from_json(await _json_object(request))
    except (BadRequest, ValueError, TypeError) as exc:
        return json_error(400, str(exc))
    request.app[FAULTS].set_config(config)
    return _faults_reply(request)


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].set_config(FaultConfig())
    return _faults_reply(request)


async def _token_of(request: web.Request) -> str:
    token = (await _json_object(request)).get("token")
    if not isinstance(token, str) or not token.strip():
        raise BadRequest('The body must be {"token": "<a non-empty token>"}.')
    return token.strip()


async def revoke_token(request: web.Request) -> web.Response:
    try:
        token = await _token_of(request)
    except BadRequest as exc:
        return json_error(exc.status, exc.detail)
    injector = request.app[FAULTS]
    injector.revoke(token)
    return web.json_response({"revoked": True, "revoked_tokens": injector.revoked_count()})


async def restore_token(request: web.Request) -> web.Response:
    try:
        token = await _token_of(request)
    except BadRequest as exc:
        return json_error(exc.status, exc.detail)
    injector = request.app[FAULTS]
    restored = injector.restore(token)
    return web.json_response({"restored": restored, "revoked_tokens": injector.revoked_count()})


async def requests(request: web.Request) -> web.Response:
    client = request.query.get("client")
    entries = request.app[REQUEST_LOG].entries(client)
    return web.json_response({"requests": [entry.to_json() for entry in entries]})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[REQUEST_LOG].clear()
    return web.json_response({"cleared": True})


async def s3_alias(request: web.Request) -> web.Response:
    if S3 not in request.app:
        return json_error(404, "This emulator's transfer mode has no S3 endpoint.")
    try:
        data = await _json_object(request)
    except BadRequest as exc:
        return json_error(exc.status, exc.detail)
    fields = [data.get(name) for name in ("access_key_id", "session_token", "like")]
    if not all(isinstance(value, str) and value for value in fields):
        return json_error(400, 'The body must be {"access_key_id": ..., "session_token": ..., "like": ...}.')
    key_id, token, like = (str(value) for value in fields)
    return web.json_response({"aliased": request.app[S3].alias(key_id, token, like)})


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/health", health)
    router.add_get("/_emulator/counters", counters)
    router.add_get("/_emulator/counters/jobs", job_counters)
    router.add_post("/_emulator/counters/reset", reset_counters)
    router.add_post("/_emulator/jobs/{job_id}/advance", advance)
    router.add_get("/_emulator/faults", get_faults)
    router.add_put("/_emulator/faults", put_faults)
    router.add_delete("/_emulator/faults", clear_faults)
    router.add_post("/_emulator/tokens/revoke", revoke_token)
    router.add_post("/_emulator/tokens/restore", restore_token)
    router.add_get("/_emulator/requests", requests)
    router.add_delete("/_emulator/requests", clear_requests)
    router.add_post("/_emulator/s3/aliases", s3_alias)
