"""Shared helpers of the HTTP handlers: app keys, replies, body and query parsing."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from google.protobuf.message import DecodeError, Message

from .blobs import BlobStore
from .counters import Counters
from .errors import BadRequest
from .faults import FaultInjector
from .records import UserRecord
from .requestlog import RequestLog
from .s3 import S3Endpoint
from .signing import UrlSigner
from .state import EmulatorState
from .transfers import TransferPlanner

__all__ = [
    "BLOBS",
    "COUNTERS",
    "FAULTS",
    "PLANNER",
    "PROTOBUF",
    "REQUEST_LOG",
    "S3",
    "SIGNER",
    "STATE",
    "USER_KEY",
    "current_user",
    "json_error",
    "origin",
    "parse_body",
    "pb_response",
    "query_int",
    "query_states",
    "xml_error",
]

PROTOBUF = "application/x-protobuf"
STATE = web.AppKey("state", EmulatorState)
BLOBS = web.AppKey("blobs", BlobStore)
SIGNER = web.AppKey("signer", UrlSigner)
COUNTERS = web.AppKey("counters", Counters)
FAULTS = web.AppKey("faults", FaultInjector)
REQUEST_LOG = web.AppKey("request_log", RequestLog)
PLANNER = web.AppKey("planner", TransferPlanner)
S3 = web.AppKey("s3", S3Endpoint)  # only when the config uses S3 credentials
# web.RequestKey exists from aiohttp 3.13 on; a plain string works (with a warning) before.
_RequestKey: Any = getattr(web, "RequestKey", None)
USER_KEY: Any = _RequestKey("user", UserRecord) if _RequestKey else "aihubd.emulator.user"

M = TypeVar("M", bound=Message)


def pb_response(message: Message, status: int = 200) -> web.Response:
    """A protobuf reply with the exact Content-Type the official client requires."""
    return web.Response(body=message.SerializeToString(), status=status, headers={"Content-Type": PROTOBUF})


def json_error(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def xml_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An S3-style error body (the client extracts ``Code: Message`` from it)."""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(text=body, status=status, content_type="application/xml", headers=headers)


async def parse_body(request: web.Request, message_type: type[M]) -> M:
    """Parse the request body as ``message_type``; 400 when it is not one."""
    data = await request.read()
    message = message_type()
    try:
        message.ParseFromString(data)
    except (DecodeError, ValueError) as exc:
        raise BadRequest(f"Invalid {message_type.__name__} body.") from exc
    return message


def current_user(request: web.Request) -> UserRecord:
    user: UserRecord = request[USER_KEY]
    return user


def origin(request: web.Request) -> str:
    """``scheme://host:port`` as the caller addressed us (for absolute blob URLs)."""
    return f"{request.scheme}://{request.host}"


def query_int(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"Query parameter '{name}' must be an integer.") from exc
    if value < 0:
        raise BadRequest(f"Query parameter '{name}' must not be negative.")
    return value


def query_states(request: web.Request) -> set[int] | None:
    raw = request.query.get("state")
    if raw is None or raw.strip() == "":
        return None
    try:
        return {int(part) for part in raw.split(",") if part.strip()}
    except ValueError as exc:
        raise BadRequest("Query parameter 'state' must be a comma-separated list of integers.") from exc
