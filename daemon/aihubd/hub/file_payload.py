"""A request body that streams one region of a pinned file (one open fd), chunk by chunk, off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from ..pinned_file import PinnedFile

__all__ = ["FileRegionPayload"]

CHUNK = 1 << 20


class FileRegionPayload(Payload):
    """``length`` bytes of ``source`` from ``offset``: a known size (so a Content-Length, never
    chunked encoding, which pre-signed S3 PUTs refuse) and at most one chunk in memory."""

    def __init__(
        self,
        source: PinnedFile,
        offset: int,
        length: int,
        *,
        on_chunk: Callable[[int], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(source.path, **kwargs)
        self._source = source
        self._offset = offset
        self._size = length
        self._length = length
        self._on_chunk = on_chunk

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a file region is bytes, not text")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        loop = asyncio.get_running_loop()
        left = self._length if content_length is None else min(self._length, content_length)
        offset = self._offset
        while left > 0:
            chunk = await loop.run_in_executor(None, self._source.read_at, offset, min(CHUNK, left))
            if not chunk:
                raise OSError(f"{self._source.path} shrank while being uploaded")
            await writer.write(chunk)
            offset += len(chunk)
            left -= len(chunk)
            if self._on_chunk is not None:
                self._on_chunk(len(chunk))
