"""A tiny recording Hub API on loopback: answers the link-job API calls with valid protobuf, records
every request (method, path, query pairs in order, headers, body), and can answer scripted
failures (401, 426, 503 with Retry-After, ...) so both the daemon and the official client can be
run against it and their requests compared."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from qai_hub import public_api_pb2 as pb

PROTOBUF = "application/x-protobuf"
EMAIL = "me@example.com"
QRD = pb.Device(name="Snapdragon 8 Elite QRD", os="15", attributes=["framework:qnn", "os:android"])


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Scripted:
    """Answer the next ``times`` requests whose ``METHOD /path`` contains ``match`` with ``status``."""

    match: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    times: int = 1


@dataclass
class ApiHub:
    requests: list[Seen] = field(default_factory=list)
    script: list[Scripted] = field(default_factory=list)
    devices: list[pb.Device] = field(default_factory=lambda: [QRD])
    summaries: int = 0  # how many in-flight link jobs the listing holds (ids j0000, j0001, ...)
    summary_time: bool = True  # whether rows carry last_updated_time
    email: str = EMAIL

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def seen(self, method: str, path_part: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Seen(
                request.method,
                request.path,
                list(request.query.items()),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        where = f"{request.method} {request.path}"
        for entry in self.script:
            if entry.times > 0 and entry.match in where:
                entry.times -= 1
                return web.Response(status=entry.status, headers=entry.headers, text=entry.body)
        return self._reply(request, body)

    def _reply(self, request: web.Request, body: bytes) -> web.Response:
        parts = [p for p in request.path.split("/") if p][2:]  # after api/v1
        method = request.method
        if parts == ["users", "auth", "user"]:
            return _proto(pb.User(id=7, email=self.email, first_name="Me"))
        if parts == ["devices"]:
            return _proto(pb.DeviceList(devices=self.devices))
        if parts == ["job_summaries"]:
            return _proto(self._summaries(request))
        if parts == ["jobs"] and method == "POST":
            return _proto(pb.CreateUpdateResponse(id="jnew"))
        if len(parts) == 2 and parts[0] == "jobs":
            if method == "PATCH":
                return _proto(pb.CreateUpdateResponse(id=parts[1]))
            link = pb.LinkJob(link_job_id=parts[1], name="n", job_state=pb.JobState.JOB_STATE_CREATED, device=QRD)
            link.creation_time.FromSeconds(1_700_000_000)
            return _proto(pb.Job(link_job=link))
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "shared_access":
            if method == "GET":
                return _proto(pb.SharedAccess(email=["a@example.com"]))
            return _proto(pb.CreateUpdateResponse(id=parts[1]))
        if len(parts) == 2 and parts[0] == "models":
            return _proto(pb.Model(model_id=parts[1], name="tail.dlc", model_type=pb.ModelType.MODEL_TYPE_QNN_DLC))
        return web.json_response({"detail": f"no route {method} {request.path}"}, status=404)

    def _summaries(self, request: web.Request) -> pb.JobSummaryList:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "50"))
        rows = []
        for i in range(offset, min(offset + limit, self.summaries)):
            row = pb.LinkJobSummary(job_id=f"j{i:04d}", name="n", job_state=pb.JobState.JOB_STATE_CREATED)
            row.creation_time.FromSeconds(1_700_000_000)
            if self.summary_time:
                row.last_updated_time.FromSeconds(1_700_000_000)
            rows.append(pb.JobSummary(link_job_summary=row))
        return pb.JobSummaryList(job_summaries=rows)  # no total_query_count, as the Hub may leave it


def _proto(message: object) -> web.Response:
    return web.Response(body=message.SerializeToString(), content_type=PROTOBUF)  # type: ignore[attr-defined]
