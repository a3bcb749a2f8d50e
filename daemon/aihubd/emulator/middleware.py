"""aiohttp middlewares: request logging and counting, fault injection, error replies
and token authentication.

Order (outermost first): ``log_requests`` (the shape of every request, see
``requestlog``), ``count_requests`` (every request is counted, failed and
faulted ones too), ``inject_faults`` (the fault layer, see ``faults``; it sees the
final reply of the inner layers), ``error_replies`` (HubError and router errors
become JSON ``{"detail": ...}`` bodies; blob routes produce their own S3-style
errors), then ``authenticate`` (only for ``/api/v1/``; revoked tokens get 401).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .blob_replies import BODY_KEY, HTML_PAGE
from .counters import UNMATCHED
from .errors import HubError, Unauthorized
from .faults import BODY_KINDS, CUT_KEY, DOWN, REVOKED, CutResponse, DropResponse, FaultDecision
from .web_util import COUNTERS, FAULTS, REQUEST_LOG, SIGNER, STATE, USER_KEY, json_error, xml_error

__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "authenticate",
    "count_requests",
    "error_replies",
    "inject_faults",
    "log_requests",
    "route_template",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/_emulator/"
API_PREFIX = "/api/v1/"
BLOB_PREFIX = "/blobs/"
JOB_GET_TEMPLATE = "/api/v1/jobs/{job_id}/"


def route_template(request: web.Request) -> str:
    """The canonical route template of a request, or ``<unmatched>``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def _client_of(request: web.Request) -> str:
    if request.path.startswith(BLOB_PREFIX):
        return request.app[SIGNER].client_of(request.query)
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    return request.app[STATE].email_of_token(token.strip())


@web.middleware
async def log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(ADMIN_PREFIX):
        return await handler(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        request.app[REQUEST_LOG].add(
            _client_of(request),
            request.method,
            route_template(request),
            request.query.items(),
            request.headers,
            status,
        )


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(ADMIN_PREFIX):
        template = route_template(request)
        job_id = None
        if request.method == "GET" and template == JOB_GET_TEMPLATE:
            job_id = request.match_info.get("job_id")
        request.app[COUNTERS].hit(f"{request.method} {template}", job_id)
    return await handler(request)


_FAULT_TEXT = {
    500: ("InternalError", "Injected fault: internal server error."),
    502: ("BadGateway", "Injected fault: bad gateway."),
    503: ("ServiceUnavailable", "Injected fault: service unavailable."),
    429: ("SlowDown", "Request was throttled."),
    426: ("UpgradeRequired", "Upgrade Required: this client version is no longer supported, please upgrade qai-hub."),
}


def _fault_reply(request: web.Request, decision: FaultDecision) -> web.Response:
    code, text = _FAULT_TEXT[decision.status]
    if decision.kind == DOWN:
        text = "The Hub is down (emulated)."
    if request.path.startswith(BLOB_PREFIX):
        reply = xml_error(decision.status, code, text)
    else:
        reply = json_error(decision.status, text)
    if decision.retry_after is not None:
        reply.headers["Retry-After"] = str(decision.retry_after)
    return reply


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    decision = request.app[FAULTS].decide(request.method, request.path, route_template(request))
    if decision is None:
        return await handler(request)
    counters = request.app[COUNTERS]
    kind = decision.kind
    if decision.status:
        counters.fault(kind)
        return _fault_reply(request, decision)
    if kind == "slow":
        counters.fault(kind)
        await request.app[FAULTS].sleep(decision.slow_seconds)
        return await handler(request)

    def record() -> None:
        counters.fault(kind)

    if kind == "reset-mid-body":
        request[CUT_KEY] = record  # blob GETs: the handler builds a CutFileResponse
        response = await handler(request)
        if type(response) is web.Response and not response.prepared and isinstance(response.body, (bytes, bytearray)):
            return CutResponse(response, record)
        return response
    if kind == "html-body":
        record()
        return web.Response(status=200, text=HTML_PAGE, content_type="text/html")
    if kind in BODY_KINDS:
        request[BODY_KEY] = (kind, record)  # the blob handler builds a BadBodyResponse
        return await handler(request)
    if kind == "drop-after-create":
        response = await handler(request)
        if 200 <= response.status < 300:
            return DropResponse(record)
        return response
    return await handler(request)  # pragma: no cover - every kind is handled above


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
        if request.app[FAULTS].is_revoked(token):
            request.app[COUNTERS].fault(REVOKED)
            raise Unauthorized("Invalid token.")
        user = request.app[STATE].authenticate(token)
        if user is None:
            raise Unauthorized("Invalid token.")
        request[USER_KEY] = user
    return await handler(request)
