"""A tiny Hub + blob store on loopback for the transfer adapter's tests: every reply variant the
official client reads, and the blob store faults the real one shows (expired URLs, S3 XML errors,
cut transfers, 416 on a complete resume)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from qai_hub import public_api_pb2 as pb

PROTOBUF = "application/x-protobuf"
S3_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><RequestId>R1</RequestId></Error>"
)


def proto(message: Any) -> web.Response:
    return web.Response(body=message.SerializeToString(), content_type=PROTOBUF)


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]


@dataclass
class TransferHub:
    """State and knobs. ``upload_reply``/``download_reply`` build the transfer-info answer from the
    server's base URL and a generation number (bumped on every ask, so URLs differ after a refresh)."""

    blob: bytes = b""
    upload_reply: Callable[[str, int], Any] | None = None
    download_reply: Callable[[str, int], Any] | None = None
    expired_generations: set[int] = field(default_factory=set)  # URLs of these generations get 403
    expired_parts: set[tuple[int, int]] = field(default_factory=set)  # (generation, part index) get 403
    expire_on_cut: bool = False  # a cut transfer's URL expires with it
    short_by: int = 0  # announce this many bytes more than are sent, then drop the connection
    cut_after: list[int] = field(default_factory=list)  # per blob GET: stop after N bytes (pop front)
    parts: dict[int, bytes] = field(default_factory=dict)
    part_sizes: dict[int, int] = field(default_factory=dict)
    completed: list[pb.FileMultipartUploadComplete] = field(default_factory=list)
    confirmed: int = 0
    requests: list[Recorded] = field(default_factory=list)
    asks: int = 0
    hash_parts_only: bool = False  # keep a digest, not the bytes (memory tests)
    part_digests: dict[int, str] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/api/v1/models/", self._create)
        app.router.add_get("/api/v1/models/m1/multipart_upload/", self._upload_info)
        app.router.add_post("/api/v1/models/m1/multipart_upload/", self._complete)
        app.router.add_post("/api/v1/models/m1/upload_complete/", self._confirm)
        app.router.add_get("/api/v1/models/m1/download/", self._download_info)
        app.router.add_put("/blob/part/{gen}/{index}", self._put_part)
        app.router.add_get("/blob/file/{gen}", self._get_blob)
        app.router.add_put("/blob/moved/{index}", self._moved)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(Recorded(request.method, request.path, list(request.query.items()), dict(request.headers)))
        response: web.StreamResponse = await handler(request)
        return response

    def base(self, request: web.Request) -> str:
        return f"http://{request.host}"

    async def _create(self, request: web.Request) -> web.Response:
        return proto(pb.CreateUpdateResponse(id="m1"))

    async def _upload_info(self, request: web.Request) -> web.Response:
        assert self.upload_reply is not None
        self.asks += 1
        return proto(self.upload_reply(self.base(request), self.asks))

    async def _download_info(self, request: web.Request) -> web.Response:
        assert self.download_reply is not None
        self.asks += 1
        return proto(self.download_reply(self.base(request), self.asks))

    async def _complete(self, request: web.Request) -> web.Response:
        done = pb.FileMultipartUploadComplete()
        done.ParseFromString(await request.read())
        self.completed.append(done)
        return proto(pb.CreateUpdateResponse(id="m1"))

    async def _confirm(self, request: web.Request) -> web.Response:
        self.confirmed += 1
        return proto(pb.CreateUpdateResponse(id="m1"))

    async def _put_part(self, request: web.Request) -> web.Response:
        gen, index = int(request.match_info["gen"]), int(request.match_info["index"])
        if gen in self.expired_generations or (gen, index) in self.expired_parts:
            return web.Response(status=403, body=S3_ACCESS_DENIED, content_type="application/xml")
        digest, size, data = hashlib.sha256(), 0, bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            digest.update(chunk)
            size += len(chunk)
            if not self.hash_parts_only:
                data += chunk
        self.part_sizes[index] = size
        self.part_digests[index] = digest.hexdigest()
        if not self.hash_parts_only:
            self.parts[index] = bytes(data)
        return web.Response(headers={"ETag": f'"etag-{index}"'})

    async def _moved(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=307, headers={"Location": f"/blob/part/1/{request.match_info['index']}"})

    async def _get_blob(self, request: web.Request) -> web.StreamResponse:
        if int(request.match_info["gen"]) in self.expired_generations:
            return web.Response(status=403, body=S3_ACCESS_DENIED, content_type="application/xml")
        start = 0
        if "Range" in request.headers:
            start = int(request.headers["Range"].removeprefix("bytes=").removesuffix("-"))
            if start >= len(self.blob):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(self.blob)}"})
        body = self.blob[start:]
        status = 206 if start else 200
        headers = {"Content-Length": str(len(body) + self.short_by)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(self.blob) - 1}/{len(self.blob)}"
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        cut = self.cut_after.pop(0) if self.cut_after else None
        if cut is not None or self.short_by:
            await resp.write(body if cut is None else body[:cut])
            if self.expire_on_cut:
                self.expired_generations.add(int(request.match_info["gen"]))
            self.short_by = 0
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-body
            return resp
        await resp.write(body)
        await resp.write_eof()
        return resp
