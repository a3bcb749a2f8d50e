"""Handlers for ``/api/v1/``: the current user, devices, models and model uploads."""

from __future__ import annotations

import asyncio

from aiohttp import web
from qai_hub import public_api_pb2 as pb

from .convert import device_pb, model_pb, timestamp, user_pb
from .devices import find_devices
from .errors import BadRequest, NotFound
from .records import FAILED, ModelRecord
from .state import EmulatorState
from .transfers import opted_in as s3_opted_in
from .transfers import part_count
from .web_util import (
    BLOBS,
    PLANNER,
    S3,
    SIGNER,
    STATE,
    current_user,
    origin,
    parse_body,
    pb_response,
    query_int,
)

__all__ = ["add_model_routes", "download_filename"]


def download_filename(model: ModelRecord) -> str:
    """The flat file name a model downloads as; target models get exactly one ``.bin``."""
    return f"{model.name}.bin" if model.producer_id else (model.name or model.model_id)


async def get_auth_user(request: web.Request) -> web.Response:
    return pb_response(user_pb(current_user(request)))


async def list_devices(request: web.Request) -> web.Response:
    query = request.query
    select = query.get("select", "False").lower() == "true"
    found = find_devices(
        name=query.get("name", ""),
        os=query.get("os", ""),
        attributes=query.getall("attributes", []),
        select=select,
    )
    reply = pb.DeviceList(devices=[device_pb(d) for d in found], total_query_count=len(found))
    return pb_response(reply)


async def create_model(request: web.Request) -> web.Response:
    body = await parse_body(request, pb.Model)
    if not body.name:
        raise BadRequest("A model needs a name.")
    model = request.app[STATE].create_model(
        current_user(request),
        name=body.name,
        model_type=body.model_type,
        is_directory=body.is_directory,
        project_id=request.match_info.get("project_id"),
    )
    reply = pb.CreateUpdateResponse(id=model.model_id, creation_time=timestamp(model.creation_time))
    return pb_response(reply, status=201)


async def list_models(request: web.Request) -> web.Response:
    """``GET models/`` (``qai_hub.Client.get_models``): visible models, newest first."""
    state = request.app[STATE]
    offset = query_int(request, "offset", 0) or 0
    limit = query_int(request, "limit", None)
    models = state.list_models(current_user(request), request.match_info.get("project_id"))
    page = models[offset : None if limit is None else offset + limit]
    return pb_response(pb.ModelList(models=[model_pb(state, m) for m in page], total_query_count=len(models)))


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    model = state.visible_model(current_user(request), request.match_info["model_id"])
    return pb_response(model_pb(state, model))


async def get_upload_url(request: web.Request) -> web.Response:
    """The upload plan: legacy bare ``FileMultipartUploadURL`` without
    ``supports_s3_credentials=true``, else a ``FileUploadResponse`` (see ``transfers``)."""
    file_size = query_int(request, "file_size", None)
    if file_size is None:
        raise BadRequest("Query parameter 'file_size' is required.")
    state = request.app[STATE]
    user = current_user(request)
    model = state.start_upload(user, request.match_info["model_id"])
    assert model.upload_id is not None
    opted = s3_opted_in(request.query)
    config = state.config
    variant = request.app[PLANNER].upload(f"models/{model.model_id}", file_size, opted)
    if variant == "credentials":
        key = f"uploads/{model.model_id}/{model.upload_id}"
        model.s3_upload_key = key
        credentials = request.app[S3].credentials(key, model.name, config.credentials_ttl_seconds)
        return pb_response(pb.FileUploadResponse(credentials=credentials))
    model.s3_upload_key = None
    parts = 1 if variant == "url" else part_count(file_size, config.part_bytes)
    part_size = max(file_size, 1) if parts == 1 else config.part_bytes
    signer = request.app[SIGNER]
    urls = [
        signer.url(origin(request), "PUT", f"uploads/{model.model_id}/{model.upload_id}/{n}", client=user.email)
        for n in range(1, parts + 1)
    ]
    multipart = pb.FileMultipartUploadURL(urls=urls, upload_id=model.upload_id, max_part_size=part_size)
    return pb_response(pb.FileUploadResponse(multipart_url=multipart) if opted else multipart)


async def _complete(request: web.Request, upload_id: str | None, etags: list[str] | None) -> web.Response:
    state = request.app[STATE]
    blobs = request.app[BLOBS]
    user = current_user(request)
    model_id = request.match_info["model_id"]
    parts = state.parts_to_complete(user, model_id, upload_id, etags)
    model = state.visible_model(user, model_id)
    if parts is not None:
        assert model.upload_id is not None
        paths = [blobs.part_path(model_id, model.upload_id, n) for n in parts]
        size, sha256 = await asyncio.to_thread(blobs.assemble, paths, blobs.model_path(model_id))
        state.finish_upload(model, size, sha256)
        blobs.drop_uploads(model_id)
    return pb_response(pb.CreateUpdateResponse(id=model_id))


async def complete_multipart_upload(request: web.Request) -> web.Response:
    body = await parse_body(request, pb.FileMultipartUploadComplete)
    return await _complete(request, body.upload_id, list(body.etags))


async def upload_complete(request: web.Request) -> web.Response:
    """The credentials path's completion: the object is read back from the S3 endpoint."""
    state = request.app[STATE]
    user = current_user(request)
    model_id = request.match_info["model_id"]
    if state.parts_to_complete(user, model_id, None, None) is None:
        return pb_response(pb.CreateUpdateResponse(id=model_id))  # already complete
    model = state.visible_model(user, model_id)
    key = model.s3_upload_key
    if key is None or S3 not in request.app:
        if not model.parts:
            raise BadRequest(f"No file was uploaded for model {model_id}.")
        return await _complete(request, None, None)
    blobs = request.app[BLOBS]
    fetched = await asyncio.to_thread(request.app[S3].fetch, key, blobs.model_path(model_id))
    if fetched is None:
        raise BadRequest(f"No file was uploaded for model {model_id}.")
    state.finish_upload(model, *fetched)
    model.s3_upload_key = None
    blobs.drop_uploads(model_id)
    return pb_response(pb.CreateUpdateResponse(id=model_id))


def _downloadable(state: EmulatorState, model: ModelRecord) -> None:
    if model.producer_id:
        job = state.jobs.get(model.producer_id)
        if job is not None and job.state == FAILED:
            raise NotFound(f"Model {model.model_id} is not available: job {job.job_id} failed.")
        if not model.has_content:
            raise NotFound(f"Model {model.model_id} is not available yet: job {model.producer_id} has not finished.")
    elif not model.has_content:
        raise NotFound(f"Model {model.model_id} has no uploaded file.")


async def get_download_url(request: web.Request) -> web.Response:
    """Legacy bare ``FileDownloadURL`` without ``supports_s3_credentials=true``, else a
    ``FileDownloadResponse`` by URL or by credentials (see ``transfers``)."""
    state = request.app[STATE]
    user = current_user(request)
    model = state.visible_model(user, request.match_info["model_id"])
    _downloadable(state, model)
    opted = s3_opted_in(request.query)
    key = f"models/{model.model_id}"
    filename = download_filename(model)
    if request.app[PLANNER].download(key, model.size, opted) == "credentials":
        s3 = request.app[S3]
        await asyncio.to_thread(s3.publish, key, request.app[BLOBS].model_path(model.model_id))
        credentials = s3.credentials(key, filename, state.config.credentials_ttl_seconds)
        return pb_response(pb.FileDownloadResponse(credentials=credentials))
    url = pb.FileDownloadURL(
        url=request.app[SIGNER].url(origin(request), "GET", key, client=user.email), filename=filename
    )
    return pb_response(pb.FileDownloadResponse(url=url) if opted else url)


def _kind(request: web.Request) -> tuple[str, str]:
    if "job_id" in request.match_info:
        return "jobs", request.match_info["job_id"]
    return "models", request.match_info["model_id"]


async def get_sharing(request: web.Request) -> web.Response:
    kind, entity_id = _kind(request)
    emails = request.app[STATE].sharing(current_user(request), kind, entity_id)
    return pb_response(pb.SharedAccess(email=emails))


async def modify_sharing(request: web.Request) -> web.Response:
    body = await parse_body(request, pb.SharedAccessChange)
    kind, entity_id = _kind(request)
    request.app[STATE].modify_sharing(current_user(request), kind, entity_id, body.add_email, body.remove_email)
    return pb_response(pb.CreateUpdateResponse(id=entity_id))


async def disable_sharing(request: web.Request) -> web.Response:
    kind, entity_id = _kind(request)
    request.app[STATE].disable_sharing(current_user(request), kind, entity_id)
    return pb_response(pb.CreateUpdateResponse(id=entity_id))


def add_sharing_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """GET/PATCH/DELETE ``<prefix>shared_access/`` (prefix like ``/api/v1/jobs/{job_id}/``)."""
    path = f"{prefix}shared_access/"
    router.add_get(path, get_sharing, allow_head=False)
    router.add_patch(path, modify_sharing)
    router.add_delete(path, disable_sharing)


def add_model_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/users/auth/user/", get_auth_user, allow_head=False)
    router.add_get("/api/v1/devices/", list_devices, allow_head=False)
    router.add_get("/api/v1/models/", list_models, allow_head=False)
    router.add_get("/api/v1/projects/{project_id}/models/", list_models, allow_head=False)
    router.add_post("/api/v1/models/", create_model)
    router.add_post("/api/v1/projects/{project_id}/models/", create_model)
    router.add_get("/api/v1/models/{model_id}/", get_model, allow_head=False)
    upload = "/api/v1/models/{model_id}/multipart_upload/"
    router.add_get(upload, get_upload_url, allow_head=False)
    router.add_post(upload, complete_multipart_upload)
    router.add_post("/api/v1/models/{model_id}/upload_complete/", upload_complete)
    router.add_get("/api/v1/models/{model_id}/download/", get_download_url, allow_head=False)
    add_sharing_routes(router, "/api/v1/models/{model_id}/")
