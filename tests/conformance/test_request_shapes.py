"""Conformance: the daemon sends the Hub only request shapes the official client sends.

For the link-job flows (upload, submit, wait, listing, rename, sharing, artifacts, target model,
logs) in every transfer mode, the unmodified official qai-hub client runs against one emulator
and a real daemon (started as in tests/integration) against another with the same config (so
``mixed`` picks the same variant for the same object on both sides). Each emulator's request
log records every request's shape: method, route template, query keys with the values of
flag-like keys, header names. The test fails for every daemon shape that no official request
has: an unknown method+route, other query keys or flag values, or a header the official client
does not send there. ``User-Agent`` is the one header the daemon may set its own way (its value;
the official client sends the name too).

Requests the daemon makes that the official client never makes are listed in ``DAEMON_ONLY``
with the reason (the README says the same); none for now.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import qai_hub as hub
from e2e_support import (
    HUB_DAEMON_FLAGS,
    Emulator,
    finish_job,
    hub_env,
    start_daemon,
    start_emulator,
    stopping,
)
from qai_hub import public_rest_api as official_api

from aihubd_client import Client

DEVICE = "Snapdragon 8 Elite QRD"
OFFICIAL = ("tok-official", "official@conf.example")
DAEMON = ("tok-daemon", "daemon@conf.example")
FRIEND = ("tok-friend", "friend@conf.example")
PART_BYTES = 512 * 1024
LARGE_BYTES = 3 * 512 * 1024  # above the default 1 MiB "mixed" threshold; 3 parts in "multipart"
# Requests the official client never makes, with the reason the daemon needs them.
DAEMON_ONLY: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Shape:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: frozenset[str]

    @classmethod
    def from_log(cls, entry: dict[str, Any]) -> Shape:
        return cls(entry["method"], entry["path"], tuple(sorted(entry["query"].items())), frozenset(entry["headers"]))

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + query if query else ''} headers={sorted(self.headers)}"


def _requests(emulator: Emulator, client: str) -> list[dict[str, Any]]:
    url = f"{emulator.base_url}/_emulator/requests?client={client}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.loads(resp.read())["requests"])


def _pseudo_random(size: int, seed: bytes) -> bytes:
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path]:
    small = tmp_path / "small.dlc"
    large = tmp_path / "large.dlc"
    small.write_bytes(_pseudo_random(20_000, b"small"))
    large.write_bytes(_pseudo_random(LARGE_BYTES, b"large"))
    return small, large


def _emulator(base: Path, mode: str) -> tuple[Emulator, str | None]:
    base.mkdir()
    tokens = base / "tokens"
    tokens.write_text("".join(f"{token}:{email}:conf-org\n" for token, email in (OFFICIAL, DAEMON, FRIEND)))
    args = ["--manual", "--transfer", mode, "--part-bytes", str(PART_BYTES), "--tokens-file", str(tokens)]
    emulator = start_emulator(base, *args)
    # The endpoint on the emulator CLI's second stdout line (credentials-using modes only).
    assert (emulator.s3_url is not None) == (mode in ("credentials", "mixed"))
    return emulator, emulator.s3_url


def _aws_env(base: Path, s3: str | None) -> dict[str, str]:
    env = {"AWS_CONFIG_FILE": str(base / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(base / "no-aws-creds")}
    if s3 is not None:
        env["AWS_ENDPOINT_URL_S3"] = s3
    return env


@pytest.fixture(params=["url", "multipart", "credentials", "mixed"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _official_flows(
    emulator: Emulator, models: tuple[Path, Path], out: Path, monkeypatch: pytest.MonkeyPatch, s3: str | None
) -> None:
    for name, value in _aws_env(out, s3).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = hub.ClientConfig(
        api_token=OFFICIAL[0], api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
    )
    client = hub.Client(config=config)
    # Who am I: the official package's own request for it (public_rest_api.get_auth_user, used by
    # nothing in the client class), which the daemon sends to learn its email (the creator filter).
    official_api.get_auth_user(config)
    job = client.submit_link_job(models=[str(p) for p in models], device=hub.Device(DEVICE), name="conformance")
    assert isinstance(job, hub.LinkJob)
    emulator.advance(job.job_id)
    emulator.advance(job.job_id)
    assert job.wait(timeout=60).success
    client.get_job_summaries(creator=OFFICIAL[1], type=hub.JobType.LINK)
    client.get_job_summaries(creator=OFFICIAL[1], type=hub.JobType.LINK, state=hub.JobStatus.all_running_states())
    client.get_job_summaries(offset=50, limit=50, creator=OFFICIAL[1], type=hub.JobType.LINK)
    client.get_job(job.job_id).get_status()
    for model in job.models:
        client.get_model(model.model_id)  # a model's upload state, as the daemon reads it
    job.set_name("renamed")
    job.modify_sharing(add_emails=[FRIEND[1]])
    assert job.get_sharing() == [FRIEND[1]]
    job.modify_sharing(delete_emails=[FRIEND[1]])
    job.disable_sharing()
    assert job.get_available_artifacts()
    job.download_artifacts_for_type(str(out / "hub-log"), hub.JobArtifactType.HUB_LOG)
    assert job.get_target_model() is not None
    (out / "target").mkdir()
    assert job.download_target_model(str(out / "target"))
    assert len(job.download_job_logs(str(out / "logs"))) == 2
    job.download_results(str(out / "results"))


def _daemon_flows(emulator: Emulator, models: tuple[Path, Path], base: Path) -> None:
    base.mkdir()
    env = hub_env(base, emulator, DAEMON[0])
    with stopping(start_daemon(base, ["--hub-url", emulator.base_url], env=env, extra=HUB_DAEMON_FLAGS)) as daemon:
        with Client(daemon.socket) as client:
            job = client.submit_link_job([str(p) for p in models], DEVICE, name="conformance")
            finish_job(emulator, daemon, job.job_id)
            assert job.wait(timeout=60).success
            client.refresh_jobs()
            job.set_name("renamed")
            job.modify_sharing(add_emails=[FRIEND[1]])
            assert job.get_sharing() == [FRIEND[1]]
            job.modify_sharing(delete_emails=[FRIEND[1]])
            job.disable_sharing()
            assert job.get_available_artifacts()
            job.download_artifacts_for_type(str(base / "hub-log"), "HUB_LOG")
            assert job.get_target_model() is not None
            (base / "target").mkdir()
            assert job.download_target_model(str(base / "target"))
            assert len(job.download_job_logs(str(base / "logs"))) == 2
            job.download_results(str(base / "results"))


def _mismatches(official: list[Shape], daemon: list[Shape]) -> list[str]:
    """Every distinct daemon shape that no official request has, with the nearest official ones."""
    problems: list[str] = []
    for shape in sorted(set(daemon), key=str):
        if (shape.method, shape.path) in DAEMON_ONLY:
            continue
        same_route = [o for o in official if (o.method, o.path) == (shape.method, shape.path)]
        if not same_route:
            problems.append(f"{shape}: the official client never sends {shape.method} {shape.path}")
            continue
        if any(o.query == shape.query and shape.headers <= o.headers for o in same_route):
            continue
        nearest = sorted({str(o) for o in same_route})
        problems.append(f"{shape}: the official client sends only: " + " | ".join(nearest))
    return problems


def test_daemon_sends_only_official_request_shapes(
    mode: str, models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path
    official_emu, official_s3 = _emulator(workspace / "official-hub", mode)
    with stopping(official_emu):
        _official_flows(official_emu, models, workspace / "official-hub", monkeypatch, official_s3)
        official = [Shape.from_log(e) for e in _requests(official_emu, OFFICIAL[1])]
    daemon_emu, _ = _emulator(workspace / "daemon-hub", mode)
    flow_error: BaseException | None = None
    with stopping(daemon_emu):
        try:
            _daemon_flows(daemon_emu, models, workspace / "daemon-side")
        except Exception as exc:  # compare what was sent up to the failure, then report both
            flow_error = exc
        logged = _requests(daemon_emu, DAEMON[1])
    daemon = [Shape.from_log(e) for e in logged]
    failed_requests = [e for e in logged if e["status"] >= 400]
    problems = _mismatches(official, daemon)
    assert not problems, (
        f"transfer mode {mode}: the daemon sent shapes the official client does not:\n"
        + "\n".join(problems)
        + (f"\n(and its flow failed: {flow_error!r})" if flow_error else "")
    )
    if flow_error is not None:
        raise flow_error

    # The recording saw both sides do the whole workflow (a test that compared two empty logs
    # would prove nothing), through the transfer paths of this mode.
    for shapes in (official, daemon):
        routes = {(s.method, s.path) for s in shapes}
        assert ("POST", "/api/v1/jobs/") in routes and ("PATCH", "/api/v1/jobs/{job_id}/") in routes
        assert ("GET", "/api/v1/models/{model_id}/download/") in routes
        assert ("GET", "/api/v1/jobs/{job_id}/device_runs/latest/artifact_list/{artifact_type}/") in routes
        uploads_by_url = ("PUT", "/blobs/{blob_key}") in routes
        assert uploads_by_url == (mode != "credentials"), (mode, sorted(routes))
        assert (("POST", "/api/v1/models/{model_id}/upload_complete/") in routes) == (
            mode in ("credentials", "mixed")
        ), (mode, sorted(routes))
    assert not failed_requests, f"the daemon's requests the emulator refused: {failed_requests}"


def test_mismatches_names_each_difference() -> None:
    """The comparison itself: each kind of difference is reported, a matching shape is not."""
    base = Shape("GET", "/api/v1/models/{model_id}/download/", (("use_acceleration", "true"),), frozenset({"a", "b"}))
    official = [base]
    assert _mismatches(official, [base]) == []
    assert _mismatches(official, [Shape(base.method, base.path, base.query, frozenset({"a"}))]) == []
    other_flag = Shape(base.method, base.path, (("use_acceleration", "false"),), base.headers)
    extra_key = Shape(base.method, base.path, (*base.query, ("supports_s3_credentials", "false")), base.headers)
    extra_header = Shape(base.method, base.path, base.query, frozenset({"a", "content-type"}))
    other_route = Shape("HEAD", base.path, base.query, base.headers)
    problems = _mismatches(official, [other_flag, extra_key, extra_header, other_route])
    assert len(problems) == 4
    assert any("never sends HEAD" in p for p in problems)


def test_s3_line_is_the_second_stdout_line(tmp_path: Path) -> None:
    emulator, s3 = _emulator(tmp_path / "hub", "credentials")
    with stopping(emulator):
        assert s3 is not None and s3.startswith("http://127.0.0.1:")
        # The endpoint answers as S3 does (moto): XML.
        try:
            with urllib.request.urlopen(s3 + "/", timeout=10) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
        assert body.lstrip().startswith(b"<")
