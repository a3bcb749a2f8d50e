"""A fault-injecting Hub proxy on loopback: forwards every request to an upstream Hub (the
emulator), except those whose path starts with a prefix told to misbehave, which get:

* ``"html"``: 200 ``text/html`` (a captive portal, a load balancer's error page);
* ``"garbage"``: 200 ``application/x-protobuf`` whose bytes are no protobuf message;
* ``"redirect-loop"``: 302 back to the same URL, forever;
* ``"bad-redirect"``: 302 to a URL that is not HTTP;
* ``"cut"``: 200 protobuf announcing 4 KiB, the connection closed after 100 bytes;
* ``"teapot"``: 418, a status no Hub answers;
* ``"huge"``: 200 protobuf, ``size`` bytes streamed chunk by chunk (never held in memory),
  chunked unless ``declare_length``.

``seen`` counts the requests per path the proxy received; ``huge_sent`` the bytes of huge bodies
it managed to write before the client hung up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import aiohttp
from aiohttp import web

__all__ = ["Fault", "HubProxy"]

CHUNK = 64 * 1024
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class Fault:
    kind: str  # "html" | "garbage" | "redirect-loop" | "bad-redirect" | "cut" | "teapot" | "huge"
    size: int = 0  # "huge": how many bytes to send
    declare_length: bool = False  # "huge": send a Content-Length header (else chunked)


class HubProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: dict[str, Fault] = {}  # path prefix -> what to answer there
        self.seen: Counter[str] = Counter()
        self.huge_sent = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def requests_to(self, prefix: str) -> int:
        return sum(n for path, n in self.seen.items() if path.startswith(prefix))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen[request.path] += 1
        fault = next((f for prefix, f in self.faults.items() if request.path.startswith(prefix)), None)
        if fault is None:
            return await self._forward(request)
        if fault.kind == "html":
            return web.Response(
                status=200, text="<html><body>Service temporarily moved</body></html>", content_type="text/html"
            )
        if fault.kind == "garbage":
            return web.Response(
                status=200, body=b"\xff\xfe not a protobuf \x00\x01" * 8, content_type="application/x-protobuf"
            )
        if fault.kind == "redirect-loop":
            raise web.HTTPFound(location=str(request.rel_url))
        if fault.kind == "bad-redirect":
            raise web.HTTPFound(location="ftp://hub.invalid/api/v1/")
        if fault.kind == "teapot":
            return web.Response(status=418, text="I'm a teapot")
        if fault.kind == "cut":
            return await self._cut(request)
        if fault.kind == "huge":
            return await self._huge(request, fault)
        raise AssertionError(f"unknown fault kind {fault.kind!r}")

    async def _cut(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-protobuf"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b"\x0a" * 100)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _huge(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-protobuf"})
        if fault.declare_length:
            response.content_length = fault.size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"\x0a" * CHUNK
        try:
            while self.huge_sent < fault.size:
                piece = chunk[: fault.size - self.huge_sent]
                await response.write(piece)
                self.huge_sent += len(piece)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the client hung up: what it should do
        return response

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream + str(request.rel_url),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=upstream.status, body=body, headers=kept)
