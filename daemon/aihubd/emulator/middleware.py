"""aiohttp middlewares: request counting, error replies and token authentication.

Order (outermost first): ``count_requests`` (every request is counted, failed
ones too), ``error_replies`` (HubError and router errors become JSON
``{"detail": ...}`` bodies; blob routes produce their own S3-style errors), then
``authenticate`` (only for ``/api/v1/``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .counters import UNMATCHED
from .errors import HubError, Unauthorized
from .web_util import COUNTERS, STATE, USER_KEY, json_error

__all__ = ["count_requests", "error_replies", "authenticate", "ADMIN_PREFIX", "API_PREFIX"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/_emulator/"
API_PREFIX = "/api/v1/"
JOB_GET_TEMPLATE = "/api/v1/jobs/{job_id}/"


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(ADMIN_PREFIX):
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else UNMATCHED
        job_id = None
        if request.method == "GET" and template == JOB_GET_TEMPLATE:
            job_id = request.match_info.get("job_id")
        request.app[COUNTERS].hit(f"{request.method} {template}", job_id)
    return await handler(request)


@web.middleware
async def error_replies(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HubError as exc:
        return json_error(exc.status, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = {404: "Not found.", 405: "Method not allowed."}.get(exc.status, exc.reason)
        return json_error(exc.status, detail)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(API_PREFIX):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "token" or not token:
            raise Unauthorized("Authentication credentials were not provided.")
        user = request.app[STATE].authenticate(token)
        if user is None:
            raise Unauthorized("Invalid token.")
        request[USER_KEY] = user
    return await handler(request)
