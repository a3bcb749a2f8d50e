"""Blob routes: ``PUT /blobs/{blob_key}`` (upload parts) and ``GET /blobs/{blob_key}``.

Counter templates: ``PUT /blobs/{blob_key}``, ``GET /blobs/{blob_key}`` and
``HEAD /blobs/{blob_key}``. Keys::

    uploads/<model_id>/<upload_id>/<part>   PUT: one upload part (reply carries an ETag)
    models/<model_id>                       GET: a model's file
    jobs/<job_id>/artifacts/<type>          GET: a log artifact of a terminal job

No token is needed; the URL's signature is the credential (403 when missing, wrong
or expired). Errors are S3-style XML. GETs are served by ``FileResponse``, so
``Range`` requests work (206 / 416); ``faults.file_response`` lets the fault layer
cut a download in the middle.
"""

from __future__ import annotations

from aiohttp import web

from .errors import NotFound
from .faults import file_response
from .web_util import BLOBS, SIGNER, STATE, xml_error

__all__ = ["add_blob_routes"]

_BLOB_ROUTE = "/blobs/{blob_key:.+}"


def _not_found() -> web.Response:
    return xml_error(404, "NoSuchKey", "The specified key does not exist.")


async def put_blob(request: web.Request) -> web.StreamResponse:
    key = request.match_info["blob_key"]
    refusal = request.app[SIGNER].verify("PUT", key, request.query)
    if refusal is not None:
        return xml_error(403, "AccessDenied", refusal)
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
    refusal = request.app[SIGNER].verify("GET", key, request.query)
    if refusal is not None:
        return xml_error(403, "AccessDenied", refusal)
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
    return file_response(request, path, headers={"Content-Type": "application/octet-stream"})


def add_blob_routes(router: web.UrlDispatcher) -> None:
    router.add_put(_BLOB_ROUTE, put_blob)
    router.add_get(_BLOB_ROUTE, get_blob)
