"""Secrets: a canary Hub token, canary signed-URL parameters and the Hub's S3 credentials go through a
whole workflow; then every log line, RPC response, error, ``aihubctl`` output, the daemon's argv
and its state dir are searched for them. Zero hits.

The token reaches the daemon three ways (``AIHUBD_HUB_TOKEN``, ``--token-file``, qai-hub's
``client.ini``). The daemon talks to the emulator through ``HubProxy``, which records every
``X-Amz-Signature`` the emulator signs and adds a canary parameter to each signed URL, so both the
real signatures and a known canary can be searched for. With the emulator in ``credentials`` mode
the proxy records the keys of every S3 credentials the Hub hands out, and they are searched for too.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import grpc
import pytest
from qai_hub import public_api_pb2 as pb
from sec_support import (
    DEVICE,
    DaemonProc,
    Emulator,
    HubProxy,
    clean_env,
    run_refused,
    spawn_daemon,
    start_emulator,
    stop_process,
)

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

CANARY_PARAM = "X-Amz-Security-Token"
RPC_TIMEOUT = 60


# ------------------------------------------------------------------ a transcript of everything seen


class Transcript:
    """Everything a client or an operator could see, as bytes, labelled by where it came from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.codes: dict[str, grpc.StatusCode] = {}

    def add(self, where: str, data: str | bytes) -> None:
        self.items.append((where, data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data))

    def _response(self, where: str, message: Any) -> None:
        self.add(where, str(message))
        self.add(where, message.SerializeToString())

    def call(
        self,
        where: str,
        method: Callable[..., Any],
        request: Any,
        *,
        stream: bool = False,
        timeout: float = RPC_TIMEOUT,
    ) -> Any:
        """Make one RPC; record its responses or its error in full (details, debug string, trailers)."""
        try:
            if stream:
                result = []
                for message in method(request, timeout=timeout):
                    result.append(message)
                    self._response(where, message)
            else:
                result = method(request, timeout=timeout)
                self._response(where, result)
            self.codes[where] = grpc.StatusCode.OK
            return result
        except grpc.RpcError as exc:
            self.codes[where] = exc.code()
            self.add(f"{where} (error)", f"{exc.code()} {exc.details()}")
            self.add(f"{where} (error)", exc.debug_error_string() or "")
            for key, value in exc.trailing_metadata() or ():
                self.add(f"{where} (trailer {key})", value)
            return exc

    def hits(self, secret: str) -> list[str]:
        needle = secret.encode()
        return [where for where, data in self.items if needle in data]


# ------------------------------------------------------------------ the canary-carrying Hub


def _with_canary(url: str, canary: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{CANARY_PARAM}={canary}"


def _record_credentials(creds: pb.S3Credentials, seen: list[str]) -> None:
    seen.extend(v for v in (creds.access_key_id, creds.secret_access_key, creds.session_token) if v)


def canary_rewrite(canary: str, seen: list[str] | None = None) -> Callable[[str, str, bytes], bytes]:
    """Adds ``X-Amz-Security-Token=<canary>`` to every signed URL the Hub hands out, and records
    the keys of every ``S3Credentials`` it hands out in ``seen`` (searched for like the token)."""
    seen = [] if seen is None else seen
    artifact_list = re.compile(r"^/api/v1/jobs/[^/]+/device_runs/[^/]+/artifact_list/[^/]+/$")
    download = re.compile(r"^/api/v1/models/[^/]+/download/$")
    upload = re.compile(r"^/api/v1/models/[^/]+/multipart_upload/$")

    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method != "GET":
            return body
        if download.match(path):
            reply = pb.FileDownloadResponse.FromString(body)
            if reply.WhichOneof("method") == "url":
                reply.url.url = _with_canary(reply.url.url, canary)
            elif reply.WhichOneof("method") == "credentials":
                _record_credentials(reply.credentials, seen)
            return reply.SerializeToString()
        if artifact_list.match(path):
            listing = pb.NamedArtifactDownloadURLList.FromString(body)
            for artifact in listing.artifacts:
                if artifact.HasField("credentials"):
                    _record_credentials(artifact.credentials, seen)
                else:
                    artifact.url = _with_canary(artifact.url, canary)
            return listing.SerializeToString()
        if upload.match(path):
            plan = pb.FileUploadResponse.FromString(body)
            if plan.WhichOneof("method") == "multipart_url":
                urls = [_with_canary(u, canary) for u in plan.multipart_url.urls]
                del plan.multipart_url.urls[:]
                plan.multipart_url.urls.extend(urls)
            elif plan.WhichOneof("method") == "credentials":
                _record_credentials(plan.credentials, seen)
            return plan.SerializeToString()
        return body

    return rewrite


def _admin(emulator: Emulator, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
    req = urllib.request.Request(
        f"{emulator.base_url}/_emulator/{path}", method=method, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


# ------------------------------------------------------------------ fixtures


class Setup:
    def __init__(self, base: Path, token: str, url_canary: str, emulator: Emulator, proxy: HubProxy) -> None:
        self.base, self.token, self.url_canary, self.emulator, self.proxy = base, token, url_canary, emulator, proxy
        self.s3_endpoint = ""  # the emulator's S3 (credentials mode)
        self.s3_secrets: list[str] = []  # the keys of every S3Credentials the Hub handed out


@pytest.fixture(params=["mixed"])
def transfer(request: pytest.FixtureRequest) -> str:
    """The emulator's transfer mode (a test parametrizes it to cross the S3-credentials path)."""
    return str(request.param)


@pytest.fixture
def setup(base: Path, transfer: str) -> Iterator[Setup]:
    token = f"CANARY-tok-{secrets.token_hex(12)}"
    url_canary = f"CANARY-url-{secrets.token_hex(12)}"
    emulator = start_emulator(base, tokens=[f"{token}:canary@example.com"], transfer=transfer)
    s3_secrets: list[str] = []
    try:
        with HubProxy(emulator.base_url, canary_rewrite(url_canary, s3_secrets)) as proxy:
            s = Setup(base, token, url_canary, emulator, proxy)
            s.s3_secrets = s3_secrets
            if transfer in ("credentials", "mixed"):
                assert emulator.proc.stdout is not None
                s.s3_endpoint = emulator.proc.stdout.readline().strip().removeprefix("s3: ")
            yield s
    finally:
        stop_process(emulator.proc)


def _give_token(how: str, s: Setup) -> tuple[list[str], dict[str, str]]:
    """The hub arguments and environment that hand the canary token to the daemon ``how``."""
    absent_ini = str(s.base / "absent.ini")
    if how == "env":
        aws = {"AWS_ENDPOINT_URL_S3": s.s3_endpoint, "AWS_CONFIG_FILE": os.devnull} if s.s3_endpoint else {}
        env = clean_env(AIHUBD_HUB_TOKEN=s.token, QAIHUB_CLIENT_INI=absent_ini, **aws)
        return ["--hub-url", s.proxy.base_url], env
    if how == "token-file":
        path = s.base / "hub-token"
        path.write_text(s.token + "\n")
        os.chmod(path, 0o600)
        return ["--hub-url", s.proxy.base_url, "--token-file", str(path)], clean_env(QAIHUB_CLIENT_INI=absent_ini)
    if how == "client-ini":
        ini = s.base / "client.ini"
        ini.write_text(f"[api]\napi_token = {s.token}\napi_url = {s.proxy.base_url}\nweb_url = {s.proxy.base_url}\n")
        os.chmod(ini, 0o600)
        return [], clean_env(QAIHUB_CLIENT_INI=str(ini))
    raise AssertionError(how)


# ------------------------------------------------------------------ the workflow


def _aihubctl(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("aihubctl")
    argv = [str(script)] if script.exists() else [sys.executable, "-c", "from aihubd_client.cli import main; main()"]
    return subprocess.run(
        [*argv, "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(NO_COLOR="1"),
    )


def _finish(s: Setup, socket: Path, job_id: str, t: Transcript, where: str) -> None:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        jobs = api_grpc.LinkJobServiceStub(channel)
        for step in range(2):
            _admin(s.emulator, "POST", f"jobs/{job_id}/advance")
            t.call(f"{where}: RefreshJobs {step}", jobs.RefreshJobs, api.RefreshJobsRequest())


def run_workflow(s: Setup, d: DaemonProc, t: Transcript) -> str:
    """Submit, wait, download, inspect, share, fail in every usual way; returns the job id."""
    out = s.base / "out"
    out.mkdir()
    a = out / "graph_a.dlc"
    a.write_bytes(b"A-graph" + bytes(range(256)) * 40)
    b = out / "graph_b.dlc"
    b.write_bytes(b"B-graph" + bytes(range(256)) * 41)
    c = out / "graph_c.dlc"
    c.write_bytes(b"C-graph" + bytes(range(256)) * 42)

    with grpc.insecure_channel(f"unix:{d.socket}") as channel:
        jobs = api_grpc.LinkJobServiceStub(channel)
        daemon = api_grpc.DaemonServiceStub(channel)
        t.call("GetDaemonInfo", daemon.GetDaemonInfo, api.GetDaemonInfoRequest())
        job = t.call(
            "SubmitLinkJob",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(
                models=[api.ModelInput(path=str(a)), api.ModelInput(path=str(b))],
                device=DEVICE,
                name="canary job",
                options="--canary",
            ),
        )
        assert isinstance(job, api.Job), f"the workflow could not even submit: {job}"
        job_id = job.job_id
        t.call("GetJob", jobs.GetJob, api.GetJobRequest(job_id=job_id))
        t.call("ListJobs", jobs.ListJobs, api.ListJobsRequest())
        _finish(s, d.socket, job_id, t, "job 1")
        t.call("WaitJob", jobs.WaitJob, api.WaitJobRequest(job_id=job_id), stream=True)
        t.call("GetTargetModel", jobs.GetTargetModel, api.GetTargetModelRequest(job_id=job_id))
        (out / "model").mkdir()
        t.call(
            "DownloadTargetModel",
            jobs.DownloadTargetModel,
            api.DownloadTargetModelRequest(job_id=job_id, destination=str(out / "model")),
        )
        chunks = t.call("ReadTargetModel", jobs.ReadTargetModel, api.ReadTargetModelRequest(job_id=job_id), stream=True)
        t.call(
            "DownloadJobLogs",
            jobs.DownloadJobLogs,
            api.DownloadJobLogsRequest(job_id=job_id, output_dir=str(out / "logs")),
        )
        t.call(
            "DownloadArtifacts",
            jobs.DownloadArtifacts,
            api.DownloadArtifactsRequest(
                job_id=job_id, output_dir=str(out / "artifacts"), artifact_type=api.ARTIFACT_TYPE_HUB_LOG
            ),
        )
        t.call("SetJobName", jobs.SetJobName, api.SetJobNameRequest(job_id=job_id, name="renamed canary job"))
        t.call(
            "ModifySharing",
            jobs.ModifySharing,
            api.ModifySharingRequest(job_id=job_id, add_emails=["friend@example.com"]),
        )
        t.call("GetSharing", jobs.GetSharing, api.GetSharingRequest(job_id=job_id))
        t.call("DisableSharing", jobs.DisableSharing, api.DisableSharingRequest(job_id=job_id))
        t.call("GetJob after", jobs.GetJob, api.GetJobRequest(job_id=job_id))
        t.call("GetDaemonInfo after", daemon.GetDaemonInfo, api.GetDaemonInfoRequest())

        # The usual mistakes.
        t.call("GetJob unknown", jobs.GetJob, api.GetJobRequest(job_id="jnosuchjob1"))
        t.call("GetJob malformed", jobs.GetJob, api.GetJobRequest(job_id="not a job id!"))
        t.call("TrackJob unknown", jobs.TrackJob, api.TrackJobRequest(job_id="jnosuchjob2"))
        t.call(
            "Submit bad device",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(a))], device="No Such Device 9000"),
        )
        t.call(
            "Submit missing file",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(out / "missing.dlc"))], device=DEVICE),
        )
        t.call(
            "Submit unknown model",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(models=[api.ModelInput(model_id="mnosuchmodel")], device=DEVICE),
        )
        t.call(
            "Download relative",
            jobs.DownloadTargetModel,
            api.DownloadTargetModelRequest(job_id=job_id, destination="relative/dir"),
        )
        t.call(
            "Sharing bad email",
            jobs.ModifySharing,
            api.ModifySharingRequest(job_id=job_id, add_emails=["not-an-email"]),
        )
        t.call("Sharing unknown job", jobs.GetSharing, api.GetSharingRequest(job_id="jnosuchjob3"))

    # The command line, as a person would use it.
    for args in (
        ["info"],
        ["info", "--json"],
        ["status", job_id],
        ["status", job_id, "--json", "--refresh"],
        ["wait", job_id],
        ["download", job_id, str(out / "cli")],
        ["status", "jnosuchjob4"],
        ["status", "bad id!"],
        ["link", str(a), "--device", "No Such Device 9000"],
    ):
        done = _aihubctl(d.socket, *args)
        t.add(f"aihubctl {' '.join(args)} (stdout)", done.stdout)
        t.add(f"aihubctl {' '.join(args)} (stderr)", done.stderr)
        t.codes[f"aihubctl {' '.join(args)}"] = done.returncode  # type: ignore[assignment]

    # Hub trouble on the signed URLs, then a revoked token: the error paths carry URLs and auth.
    with grpc.insecure_channel(f"unix:{d.socket}") as channel:
        jobs = api_grpc.LinkJobServiceStub(channel)
        daemon = api_grpc.DaemonServiceStub(channel)
        job2 = t.call(
            "SubmitLinkJob 2",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(c))], device=DEVICE),
        )
        if isinstance(job2, api.Job):
            # A refusal the daemon does not retry (the retry budget of 503s is over a minute per
            # file): the error path still carries the blob URL. The S3 endpoint has no faults.
            _admin(s.emulator, "PUT", "faults", {"rate": 1.0, "kinds": ["426"], "paths": ["/blobs/"]})
            _finish(s, d.socket, job2.job_id, t, "job 2")
            (out / "model2").mkdir()
            t.call(
                "DownloadTargetModel blobs down",
                jobs.DownloadTargetModel,
                api.DownloadTargetModelRequest(job_id=job2.job_id, destination=str(out / "model2")),
            )
            t.call(
                "ReadTargetModel blobs down",
                jobs.ReadTargetModel,
                api.ReadTargetModelRequest(job_id=job2.job_id),
                stream=True,
            )
            t.call(
                "DownloadJobLogs blobs down",
                jobs.DownloadJobLogs,
                api.DownloadJobLogsRequest(job_id=job2.job_id, output_dir=str(out / "logs2")),
            )
            _admin(s.emulator, "DELETE", "faults")
        _admin(s.emulator, "POST", "tokens/revoke", {"token": s.token})
        t.call("TrackJob revoked", jobs.TrackJob, api.TrackJobRequest(job_id="jnosuchjob5"))
        t.call("RefreshJobs revoked", jobs.RefreshJobs, api.RefreshJobsRequest())
        t.call(
            "Submit revoked",
            jobs.SubmitLinkJob,
            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(a))], device=DEVICE),
        )
        t.call("GetDaemonInfo revoked", daemon.GetDaemonInfo, api.GetDaemonInfoRequest())
        t.call("GetSharing revoked", jobs.GetSharing, api.GetSharingRequest(job_id=job_id))
        _admin(s.emulator, "POST", "tokens/restore", {"token": s.token})
    del chunks
    return job_id


def _files_under(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


@pytest.mark.parametrize(
    ("how", "transfer"),
    [("env", "mixed"), ("token-file", "mixed"), ("client-ini", "mixed"), ("env", "credentials")],
    indirect=["transfer"],
)
def test_no_token_or_signed_url_leaks_anywhere(setup: Setup, how: str, transfer: str) -> None:
    s = setup
    hub_args, env = _give_token(how, s)
    socket = s.base / "run" / "aihubd.sock"
    d = spawn_daemon(socket, s.base / "state", s.base / "daemon.log", hub_args, env=env, log_level="DEBUG")
    t = Transcript()
    try:
        t.add("/proc/<pid>/cmdline", Path(f"/proc/{d.pid}/cmdline").read_bytes())
        t.add("argv", "\0".join(d.argv))
        job_id = run_workflow(s, d, t)
        t.add("/proc/<pid>/cmdline (end)", Path(f"/proc/{d.pid}/cmdline").read_bytes())
    finally:
        d.stop()
    t.add("daemon log", d.log.read_bytes())
    for path in _files_under(s.base / "state"):
        t.add(f"state file {path.relative_to(s.base)}", path.read_bytes())

    # The workflow did go through the Hub's signed URLs (or its S3 credentials), and the canary
    # reached the daemon.
    signatures = s.proxy.signatures()
    if transfer == "credentials":
        assert len(set(s.s3_secrets)) >= 6, "too few S3 credentials went through the proxy: the scan proves nothing"
    else:
        assert signatures, "no signed URL went through the proxy: the scan below would prove nothing"
    assert t.codes["SubmitLinkJob"] == grpc.StatusCode.OK
    assert t.codes["DownloadTargetModel"] == grpc.StatusCode.OK, "the download never used its signed URL"
    assert any(p.name.startswith(f"job_{job_id}") for p in (s.base / "out" / "model").iterdir())
    assert t.codes["GetJob unknown"] == grpc.StatusCode.NOT_FOUND
    assert t.codes["Submit bad device"] in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    assert t.codes["aihubctl info --json"] == 0 and t.codes[f"aihubctl status {job_id} --json --refresh"] == 0, (
        "aihubctl did not run: its output would prove nothing"
    )

    leaks = {name: t.hits(secret) for name, secret in [("token", s.token), ("url canary", s.url_canary)]}
    leaks.update({f"S3 credential {secret[:6]}...": t.hits(secret) for secret in set(s.s3_secrets)})
    leaks.update({f"signature {sig[:12]}...": t.hits(sig) + t.hits(unquote(sig)) for sig in signatures})
    leaks = {name: where for name, where in leaks.items() if where}
    assert not leaks, f"secrets seen by clients or in logs: {leaks}"


# ------------------------------------------------------------------ token file and client.ini modes


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=lambda m: f"{m:04o}")
def test_a_private_token_file_is_accepted(base: Path, emulator: Emulator, mode: int) -> None:
    path = base / "hub-token"
    path.write_text("test-token-security\n")
    os.chmod(path, mode)
    d = spawn_daemon(
        base / "run" / "aihubd.sock",
        base / "state",
        base / "daemon.log",
        ["--hub-url", emulator.base_url, "--token-file", str(path)],
        env=clean_env(QAIHUB_CLIENT_INI=str(base / "absent.ini")),
    )
    try:
        with grpc.insecure_channel(f"unix:{d.socket}") as channel:
            info = api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=30)
        assert info.hub_reachable
    finally:
        d.stop()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=lambda m: f"{m:04o}")
def test_an_unprotected_token_file_is_refused(base: Path, emulator: Emulator, mode: int) -> None:
    token = f"CANARY-tok-{secrets.token_hex(12)}"
    path = base / "hub-token"
    path.write_text(token + "\n")
    os.chmod(path, mode)
    socket = base / "run" / "aihubd.sock"
    result = run_refused(
        socket,
        base / "state",
        ["--hub-url", emulator.base_url, "--token-file", str(path)],
        env=clean_env(QAIHUB_CLIENT_INI=str(base / "absent.ini")),
    )
    assert result.returncode != 0
    assert "too open" in result.stderr.lower() and f"{mode:04o}" in result.stderr and str(path) in result.stderr, (
        result.stderr
    )
    assert token not in result.stderr + result.stdout
    assert not socket.exists()


def test_a_world_readable_client_ini_is_a_warning_not_a_refusal(base: Path, emulator: Emulator) -> None:
    """``qai-hub configure`` writes client.ini 0644: warn, serve anyway."""
    token = f"CANARY-tok-{secrets.token_hex(12)}"
    ini = base / "client.ini"
    ini.write_text(f"[api]\napi_token = {token}\napi_url = {emulator.base_url}\n")
    os.chmod(ini, 0o644)
    d = spawn_daemon(
        base / "run" / "aihubd.sock", base / "state", base / "daemon.log", [], env=clean_env(QAIHUB_CLIENT_INI=str(ini))
    )
    try:
        with grpc.insecure_channel(f"unix:{d.socket}") as channel:
            api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=30)
    finally:
        d.stop()
    log = d.log_text()
    warnings = [line for line in log.splitlines() if "WARNING" in line and str(ini) in line]
    assert warnings, log
    assert any("readable by other users" in w and "chmod 600" in w and "644" in w for w in warnings), warnings
    assert token not in log
