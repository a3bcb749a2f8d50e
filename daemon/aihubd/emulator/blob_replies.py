"""Blob GET replies as S3 gives them, and the bad bodies a proxy or a broken store gives instead.

`stamp_etag` (an ``on_response_prepare`` hook) puts S3's ``ETag`` on a blob file reply (aiohttp's
own is ``mtime-size``, which no S3 sends). `BadBodyResponse` is a ``FileResponse`` (same status,
headers and ``Range`` handling) whose body does not match them, for the fault kinds of
`faults.BODY_KINDS` (``"html-body"`` is answered by the middleware without running the handler):

* ``"chunked-cut"``: no ``Content-Length``, chunked encoding, the first half of the bytes and
  then a well-formed last chunk: the transfer looks complete.
* ``"short-body"``: the first half of the bytes with a ``Content-Length`` saying just that.
* ``"corrupt-body"``: every byte sent, one of them flipped (the ETag no longer matches).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from aiohttp import web

__all__ = ["BODY_KEY", "ETAG_KEY", "HTML_PAGE", "BadBodyResponse", "stamp_etag"]

_RequestKey: Any = getattr(web, "RequestKey", None)
BODY_KEY: Any = _RequestKey("body_fault", tuple) if _RequestKey else "aihubd.emulator.body_fault"
ETAG_KEY: Any = _RequestKey("s3_etag", str) if _RequestKey else "aihubd.emulator.s3_etag"
HTML_PAGE = "<html><body><h1>Service temporarily unavailable</h1></body></html>\n"
_CHUNK = 1 << 20


async def stamp_etag(request: web.Request, response: web.StreamResponse) -> None:
    """Give a blob file reply the ETag the blob handler worked out (S3's, quoted)."""
    etag = request.get(ETAG_KEY)
    if etag is not None and isinstance(response, web.FileResponse):
        response.headers["ETag"] = f'"{etag}"'


def _read_at(fobj: IO[bytes], offset: int, size: int) -> bytes:
    fobj.seek(offset)
    return fobj.read(size)


class BadBodyResponse(web.FileResponse):
    """A file reply with a bad body of ``kind`` (see the module docstring)."""

    def __init__(
        self, path: Path, kind: str, record: Callable[[], None], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(path, headers=headers)
        self._kind = kind
        self._record = record

    async def _sendfile(self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int) -> Any:
        self._record()
        send = count
        if self._kind == "chunked-cut":
            self.content_length = None
            self.enable_chunked_encoding()
            send = count // 2
        elif self._kind == "short-body":
            send = count // 2
            self.content_length = send
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        loop = asyncio.get_running_loop()
        done = 0
        while done < send:
            data = await loop.run_in_executor(None, _read_at, fobj, offset + done, min(_CHUNK, send - done))
            if not data:
                break
            if self._kind == "corrupt-body" and done <= send // 2 < done + len(data):
                at = send // 2 - done
                data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
            await writer.write(data)
            done += len(data)
        await web.StreamResponse.write_eof(self)
        return writer
