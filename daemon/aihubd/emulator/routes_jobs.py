"""Handlers for link jobs under ``/api/v1/``: create, get, rename, list, summaries, artifacts."""

from __future__ import annotations

import asyncio

from aiohttp import web
from qai_hub import public_api_pb2 as pb

from .convert import job_pb, job_summary_pb, timestamp
from .errors import BadRequest
from .records import JobRecord
from .routes_models import add_sharing_routes
from .transfers import opted_in as s3_opted_in
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
    query_states,
)
from .workflow import artifact_filename, submit_link_job

__all__ = ["add_job_routes"]

_JOB_TYPES = {"link": True, "compile": False, "inference": False, "profile": False, "quantize": False}


async def create_job(request: web.Request) -> web.Response:
    body = await parse_body(request, pb.Job)
    if body.WhichOneof("job") != "link_job":
        raise BadRequest("The emulator only runs link jobs.")
    job = await submit_link_job(
        request.app[STATE],
        request.app[BLOBS],
        current_user(request),
        body.link_job,
        request.match_info.get("project_id"),
    )
    reply = pb.CreateUpdateResponse(id=job.job_id, creation_time=timestamp(job.creation_time))
    return pb_response(reply, status=201)


async def get_job(request: web.Request) -> web.Response:
    state = request.app[STATE]
    job = state.visible_job(current_user(request), request.match_info["job_id"])
    return pb_response(job_pb(state, job))


async def update_job(request: web.Request) -> web.Response:
    body = await parse_body(request, pb.JobPublicUpdate)
    job_id = request.match_info["job_id"]
    state = request.app[STATE]
    if not body.HasField("name"):
        state.visible_job(current_user(request), job_id)  # 404 before 400
        raise BadRequest("Nothing to update: only 'name' can be changed.")
    state.rename_job(current_user(request), job_id, body.name)
    return pb_response(pb.CreateUpdateResponse(id=job_id))


def _filtered_jobs(request: web.Request) -> tuple[list[JobRecord], int]:
    """The requested page of visible jobs, newest first, and the total match count."""
    user = current_user(request)
    offset = query_int(request, "offset", 0) or 0
    limit = query_int(request, "limit", None)
    states = query_states(request)
    job_type = request.query.get("type", "")
    if job_type and job_type not in _JOB_TYPES:
        raise BadRequest(f"Unknown job type '{job_type}'.")
    creator = request.query.get("creator") or None
    if creator == "me":
        creator = user.email
    jobs = request.app[STATE].list_jobs(
        user,
        project_id=request.match_info.get("project_id"),
        creator=creator,
        states=states,
        link_only=_JOB_TYPES.get(job_type, True),
    )
    end = None if limit is None else offset + limit
    return jobs[offset:end], len(jobs)


async def list_jobs(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page, total = _filtered_jobs(request)
    reply = pb.JobList(jobs=[job_pb(state, j) for j in page])
    if not state.config.omit_total_query_count:
        reply.total_query_count = total
    return pb_response(reply)


async def list_job_summaries(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page, total = _filtered_jobs(request)
    reply = pb.JobSummaryList(job_summaries=[job_summary_pb(state, j) for j in page])
    if not state.config.omit_total_query_count:
        reply.total_query_count = total
    return pb_response(reply)


async def artifact_list(request: web.Request) -> web.Response:
    """A job's artifacts of one type, each by URL or (opted in, see ``transfers``) by credentials."""
    state = request.app[STATE]
    user = current_user(request)
    job = state.visible_job(user, request.match_info["job_id"])
    try:
        artifact_type = int(request.match_info["artifact_type"])
    except ValueError as exc:
        raise BadRequest("The artifact type must be an integer.") from exc
    reply = pb.NamedArtifactDownloadURLList()
    filename = artifact_filename(job.job_id, artifact_type)
    path = request.app[BLOBS].artifact_path(job.job_id, artifact_type)
    if job.terminal and filename is not None and path.is_file():
        key = f"jobs/{job.job_id}/artifacts/{artifact_type}"
        opted = s3_opted_in(request.query)
        if request.app[PLANNER].download(key, path.stat().st_size, opted) == "credentials":
            s3 = request.app[S3]
            await asyncio.to_thread(s3.publish, key, path)
            credentials = s3.credentials(key, filename, state.config.credentials_ttl_seconds)
            reply.artifacts.append(pb.NamedArtifactDownloadURL(filename=filename, credentials=credentials))
        else:
            url = request.app[SIGNER].url(origin(request), "GET", key, client=user.email)
            reply.artifacts.append(pb.NamedArtifactDownloadURL(url=url, filename=filename))
    return pb_response(reply)


def add_job_routes(router: web.UrlDispatcher) -> None:
    for prefix in ("/api/v1/", "/api/v1/projects/{project_id}/"):
        router.add_post(f"{prefix}jobs/", create_job)
        router.add_get(f"{prefix}jobs/", list_jobs, allow_head=False)
        router.add_get(f"{prefix}job_summaries/", list_job_summaries, allow_head=False)
    router.add_get("/api/v1/jobs/{job_id}/", get_job, allow_head=False)
    router.add_patch("/api/v1/jobs/{job_id}/", update_job)
    add_sharing_routes(router, "/api/v1/jobs/{job_id}/")
    router.add_get(
        "/api/v1/jobs/{job_id}/device_runs/latest/artifact_list/{artifact_type}/",
        artifact_list,
        allow_head=False,
    )
