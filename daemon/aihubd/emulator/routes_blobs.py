"""Blob routes: ``PUT /blobs/{blob_key}`` (upload parts) and ``GET /blobs/{blob_key}``.

Counter templates: ``PUT /blobs/{blob_key}``, ``GET /blobs/{blob_key}`` and
``HEAD /blobs/{blob_key}``. Keys::

    uploads/<model_id>/<upload_id>/<part>   PUT: one upload part (reply carries an ETag)
    models/<model_id>                       GET: a model's file
    jobs/<job_id>/artifacts/<type>          GET: a log artifact of a terminal job

No token is needed; the URL's signature is the credential (403 when missing, wrong
or expired, see ``signing``: a Content-Type or Content-MD5 header the URL was not
signed with is "wrong"). Errors are S3-style XML. A PUT without Content-Length
(a chunked body) gets 411 ``MissingContentLength``, as from S3. GETs are served by
``FileResponse``, so ``Range`` requests work (206); a range that starts at or past
the end gets 416 ``InvalidRange``; ``faults.file_response`` lets the fault layer cut
a download in the middle, and ``blob_replies`` serves its bad bodies. A blob GET carries S3's
``ETag`` (MD5, or ``<md5 of part MD5s>-<parts>`` for a multipart upload).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from .blob_replies import BODY_KEY, ETAG_KEY, BadBodyResponse
from .errors import NotFound
from .faults import file_response
from .signing import Refusal
from .web_util import BLOBS, SIGNER, STATE, xml_error

__all__ = ["add_blob_routes"]

_BLOB_ROUTE = "/blobs/{blob_key:.+}"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _refused(refusal: Refusal) -> web.Response:
    return xml_error(403, refusal.code, refusal.message)


def _unsatisfiable(range_header: str | None, size: int) -> bool:
    """Whether a single ``bytes=N-[M]`` range starts at or past the end (S3: 416)."""
    match = _RANGE.match(range_header.strip()) if range_header else None
    return match is not None and int(match.group(1)) >= size


def _not_found() -> web.Response:
    return xml_error(404, "NoSuchKey", "The specified key does not exist.")


async def put_blob(request: web.Request) -> web.StreamResponse:
    key = request.match_info["blob_key"]
    refusal = request.app[SIGNER].verify("PUT", key, request.query, request.headers)
    if refusal is not None:
        return _refused(refusal)
    if request.content_length is None:
        return xml_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "uploads" or not parts[3].isdigit():
        return _not_found()
    _, model_id, upload_id, part_text = parts
    state = request.app[STATE]
    blobs = request.app[BLOBS]
    if not state.upload_exists(model_id, upload_id):
        return _not_found()
    part = int(part_text)
    _, md5 = await blobs.write_stream(blobs.part_path(model_id, upload_id, part), request.content.iter_chunked(1 << 16))
    etag = f'"{md5}"'
    try:
        state.record_part(model_id, upload_id, part, etag)
    except NotFound:
        return _not_found()
    return web.Response(status=200, headers={"ETag": etag})


async def get_blob(request: web.Request) -> web.StreamResponse:
    key = request.match_info["blob_key"]
    refusal = request.app[SIGNER].verify(request.method, key, request.query, request.headers)
    if refusal is not None:
        return _refused(refusal)
    state = request.app[STATE]
    blobs = request.app[BLOBS]
    parts = key.split("/")
    if len(parts) == 2 and parts[0] == "models":
        model = state.models.get(parts[1])
        if model is not None and model.producer_id in state.jobs:
            state.refresh(state.jobs[model.producer_id])
        if model is None or not model.has_content:
            return _not_found()
        path = blobs.model_path(model.model_id)
    elif len(parts) == 4 and parts[0] == "jobs" and parts[2] == "artifacts" and parts[3].isdigit():
        job = state.jobs.get(parts[1])
        if job is None:
            return _not_found()
        state.refresh(job)
        if not job.terminal:
            return _not_found()
        path = blobs.artifact_path(job.job_id, int(parts[3]))
    else:
        return _not_found()
    if not path.is_file():
        return _not_found()
    size = path.stat().st_size
    if _unsatisfiable(request.headers.get("Range"), size):
        return xml_error(
            416, "InvalidRange", "The requested range is not satisfiable", headers={"Content-Range": f"bytes */{size}"}
        )
    request[ETAG_KEY] = await asyncio.to_thread(blobs.etag, path)
    headers = {"Content-Type": "application/octet-stream"}
    bad = request.get(BODY_KEY)
    if bad is not None:
        return BadBodyResponse(path, bad[0], bad[1], headers=headers)
    return file_response(request, path, headers=headers)


def add_blob_routes(router: web.UrlDispatcher) -> None:
    router.add_put(_BLOB_ROUTE, put_blob)
    router.add_get(_BLOB_ROUTE, get_blob)
