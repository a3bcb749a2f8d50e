"""A hostile Hub: file names like ``../x``, an absolute path, ``a/b``, NUL, 300 characters.

The emulator only serves well-behaved names, so the daemon talks to it through ``HubProxy``,
which rewrites the ``filename`` of the emulator's real download replies (target model and
artifact lists) into a hostile one. Whatever the daemon does with such a name (refuse it or
deliver something harmless), nothing may appear or change outside the directory the client
asked for, no temp file may stay behind, and the daemon keeps serving.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from qai_hub import public_api_pb2 as pb
from sec_support import (
    DEVICE,
    DaemonProc,
    Emulator,
    HubProxy,
    clean_env,
    private_dir,
    spawn_daemon,
    start_emulator,
    stop_process,
)

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

TEMP_PREFIX = ".aihubd-partial-"


class HostileNames:
    """The proxy's rewrite: every file name the Hub hands out becomes ``self.name``."""

    DOWNLOAD = re.compile(r"^/api/v1/models/[^/]+/download/$")
    ARTIFACTS = re.compile(r"^/api/v1/jobs/[^/]+/device_runs/[^/]+/artifact_list/[^/]+/$")

    def __init__(self) -> None:
        self.name: str | None = None

    def __call__(self, method: str, path: str, body: bytes) -> bytes:
        if self.name is None or method != "GET":
            return body
        if self.DOWNLOAD.match(path):
            reply = pb.FileDownloadResponse.FromString(body)
            reply.url.filename = self.name
            return reply.SerializeToString()
        if self.ARTIFACTS.match(path):
            listing = pb.NamedArtifactDownloadURLList.FromString(body)
            for artifact in listing.artifacts:
                artifact.filename = self.name
            return listing.SerializeToString()
        return body


@dataclass
class World:
    base: Path
    sandbox: Path
    emulator: Emulator
    names: HostileNames
    daemon: DaemonProc
    model_id: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with private_dir() as base:
        emulator = start_emulator(base)
        names = HostileNames()
        try:
            with HubProxy(emulator.base_url, names) as proxy:
                d = spawn_daemon(
                    base / "run" / "aihubd.sock",
                    base / "state",
                    base / "daemon.log",
                    ["--hub-url", proxy.base_url],
                    env=clean_env(AIHUBD_HUB_TOKEN="test-token-hostile", QAIHUB_CLIENT_INI=str(base / "absent.ini")),
                )
                try:
                    dlc = base / "graph.dlc"
                    dlc.write_bytes(b"hostile-hub-graph" + bytes(range(256)) * 16)
                    with grpc.insecure_channel(f"unix:{d.socket}") as channel:
                        job = api_grpc.LinkJobServiceStub(channel).SubmitLinkJob(
                            api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(dlc))], device=DEVICE), timeout=60
                        )
                    sandbox = base / "sandbox"
                    sandbox.mkdir()
                    yield World(base, sandbox, emulator, names, d, job.models[0].model_id)
                finally:
                    d.stop()
        finally:
            stop_process(emulator.proc)


def _finished_job(w: World) -> str:
    """A fresh DONE job (so no earlier name sits in the daemon's artifact cache for it)."""
    with grpc.insecure_channel(f"unix:{w.daemon.socket}") as channel:
        jobs = api_grpc.LinkJobServiceStub(channel)
        job = jobs.SubmitLinkJob(
            api.SubmitLinkJobRequest(models=[api.ModelInput(model_id=w.model_id)], device=DEVICE), timeout=60
        )
        for _ in range(2):
            w.emulator.advance(job.job_id)
            jobs.RefreshJobs(api.RefreshJobsRequest(), timeout=60)
        assert jobs.GetJob(api.GetJobRequest(job_id=job.job_id), timeout=60).state == api.JOB_STATE_DONE
        return job.job_id


def _tree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root``: (mode, size, content of regular files)."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = os.lstat(path)
            content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            entries[str(path.relative_to(root))] = (info.st_mode, info.st_size, content)
    return entries


HOSTILE = {
    "dotdot": "../x",
    "dotdot-twice": "../../x",
    "dotdot-deep": "../../../../../../../../x",
    "absolute": "{victim}",
    "subdir": "a/b",
    "dotdot-in-middle": "a/../../x",
    "nul": "evil\x00.bin",
    "nul-slash": "x\x00/../../x",
    "300-chars": "a" * 300,
    "256-bytes-utf8": "é" * 128,
    "dot": ".",
    "dotdot-alone": "..",
    "empty": "",
    "backslash": "..\\..\\x",
    "trailing-slash": "x/",
    "temp-prefix": TEMP_PREFIX + "x",
    "newline": "log\nfile.bin",
    "255-bytes": "b" * 251 + ".bin",
}
# Harmless names: these must arrive exactly as the Hub named them, which shows the rewrite works.
CONTROLS = {"255-bytes", "newline"}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_file_names_never_write_outside_the_requested_directory(world: World, kind: str) -> None:
    w = world
    case = w.sandbox / f"{kind}-{secrets.token_hex(3)}"
    victim = case / "victim" / "passwd"
    victim.parent.mkdir(parents=True)
    victim.write_text("root:x:0:0:root:/root:/bin/bash\n")
    requested = case / "req" / "deeper"
    dirs = {
        "model": requested / "model",
        "file": requested / "file",
        "logs": requested / "logs",
        "art": requested / "art",
    }
    for d in (dirs["model"], dirs["file"], requested / "model" / "a"):
        d.mkdir(parents=True, exist_ok=True)
    for sentinel in (case / "x", case / "req" / "x", requested / "x", case / "victim" / "x"):
        sentinel.write_text("sentinel")
    job_id = _finished_job(w)
    before = _tree(case)

    w.names.name = HOSTILE[kind].format(victim=victim)
    outcomes: dict[str, tuple[grpc.StatusCode, list[str]]] = {}
    try:
        with grpc.insecure_channel(f"unix:{w.daemon.socket}") as channel:
            jobs = api_grpc.LinkJobServiceStub(channel)
            calls = {
                "DownloadTargetModel(dir)": lambda: jobs.DownloadTargetModel(
                    api.DownloadTargetModelRequest(job_id=job_id, destination=str(dirs["model"])), timeout=60
                ).paths,
                "DownloadTargetModel(file)": lambda: jobs.DownloadTargetModel(
                    api.DownloadTargetModelRequest(job_id=job_id, destination=str(dirs["file"] / "mine")), timeout=60
                ).paths,
                "DownloadJobLogs": lambda: jobs.DownloadJobLogs(
                    api.DownloadJobLogsRequest(job_id=job_id, output_dir=str(dirs["logs"])), timeout=60
                ).paths,
                "DownloadArtifacts": lambda: jobs.DownloadArtifacts(
                    api.DownloadArtifactsRequest(
                        job_id=job_id, output_dir=str(dirs["art"]), artifact_type=api.ARTIFACT_TYPE_DEVICE_LOG
                    ),
                    timeout=60,
                ).paths,
                "ReadTargetModel": lambda: [
                    c.filename
                    for c in jobs.ReadTargetModel(api.ReadTargetModelRequest(job_id=job_id), timeout=60)
                    if c.filename
                ],
                "GetTargetModel": lambda: [
                    jobs.GetTargetModel(api.GetTargetModelRequest(job_id=job_id), timeout=60).filename
                ],
            }
            for name, call in calls.items():
                try:
                    outcomes[name] = (grpc.StatusCode.OK, list(call()))
                except grpc.RpcError as exc:
                    outcomes[name] = (exc.code(), [exc.details() or ""])
            info = api_grpc.DaemonServiceStub(channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=60)
    finally:
        w.names.name = None
    assert info.version and w.daemon.alive()

    for name, (code, _) in outcomes.items():
        assert code != grpc.StatusCode.UNKNOWN, (name, outcomes[name])
    if kind in CONTROLS:
        code, paths = outcomes["DownloadTargetModel(dir)"]
        assert code == grpc.StatusCode.OK and [Path(p).name for p in paths] == [HOSTILE[kind]], outcomes
        assert outcomes["GetTargetModel"] == (grpc.StatusCode.OK, [HOSTILE[kind]])
    written = {
        "DownloadTargetModel(dir)": dirs["model"],
        "DownloadTargetModel(file)": dirs["file"],
        "DownloadJobLogs": dirs["logs"],
        "DownloadArtifacts": dirs["art"],
    }
    for name, directory in written.items():
        code, paths = outcomes[name]
        if code != grpc.StatusCode.OK:
            continue
        for p in paths:
            path = Path(p)
            assert path.is_absolute() and path.parent == directory, (name, p)
            assert os.path.realpath(path.parent) == os.path.realpath(directory), (name, p)
            assert "/" not in path.name and "\x00" not in path.name and len(os.fsencode(path.name)) <= 255
            assert path.is_file() and not path.is_symlink()
    for name in ("ReadTargetModel", "GetTargetModel"):
        code, shown = outcomes[name]
        if code == grpc.StatusCode.OK:
            assert all("/" not in f and "\x00" not in f for f in shown), (name, shown)

    # Nothing outside the requested directories appeared or changed; no temp file stayed anywhere.
    after = _tree(case)
    allowed = {str(d.relative_to(case)) for d in dirs.values()}
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    outside = {p for p in changed if p not in allowed and str(Path(p).parent) not in allowed}
    assert not outside, f"{kind}: written outside the requested directories: {sorted(outside)}; {outcomes}"
    assert victim.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    leftovers = [p for p in after if Path(p).name.startswith(TEMP_PREFIX) and kind != "temp-prefix"]
    assert not leftovers, leftovers


def test_a_long_hub_file_name_downloaded_twice_into_one_directory(world: World) -> None:
    w = world
    requested = w.sandbox / f"twice-{secrets.token_hex(3)}"
    requested.mkdir()
    job_id = _finished_job(w)
    w.names.name = "t" * 246 + ".bin"  # 250 bytes: fine once, 266 once uniquified
    try:
        with grpc.insecure_channel(f"unix:{w.daemon.socket}") as channel:
            jobs = api_grpc.LinkJobServiceStub(channel)
            request = api.DownloadTargetModelRequest(job_id=job_id, destination=str(requested))
            first = jobs.DownloadTargetModel(request, timeout=60).paths
            try:
                second = jobs.DownloadTargetModel(request, timeout=60).paths
            except grpc.RpcError as exc:
                assert exc.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), exc.details()
                return
    finally:
        w.names.name = None
    assert first != second and all(Path(p).parent == requested for p in [*first, *second])
