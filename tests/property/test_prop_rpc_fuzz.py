"""Every RPC of a live daemon, thousands of random and boundary requests: never UNKNOWN, never
INTERNAL, and the daemon is healthy afterwards.

The methods are enumerated from the generated descriptor, so a new RPC is fuzzed automatically.
The daemon talks to a standalone emulator in manual mode: one job stays CREATED forever (blocking
RPCs on it end with DEADLINE_EXCEEDED, which is fine), one is DONE, one FAILED. Runs are
deterministic (``derandomize``, no example database).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import symbol_database
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prop_rpc_support import Known, request_strategy
from sec_support import DEVICE, DaemonProc, Emulator, clean_env, private_dir, spawn_daemon, start_emulator, stop_process

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

MAX_REQUEST = 1 << 20
SHORT_DEADLINE = 0.2  # blocking calls on the job that never finishes
LONG_DEADLINE = 30.0
EXAMPLES_PER_METHOD = int(os.environ.get("AIHUBD_FUZZ_EXAMPLES", "150"))
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# Streams that never end by design (a feed): called with the short deadline, which they may reach.
ENDLESS = {"WatchJobs"}

# StopDaemon does what it says to the live daemon every test here shares; test_daemon_ops covers it.
NOT_FUZZED = {"aihubd.v1.DaemonService.StopDaemon"}
METHODS: list[MethodDescriptor] = [
    m for s in api.DESCRIPTOR.services_by_name.values() for m in s.methods if m.full_name not in NOT_FUZZED
]


def _class(full_name: str) -> type[Message]:
    return symbol_database.Default().GetSymbol(full_name)


@dataclass
class Live:
    daemon: DaemonProc
    emulator: Emulator
    known: Known
    cwd: Path
    channel: grpc.Channel

    def call(
        self, method: MethodDescriptor, request: Message, timeout: float | None = None
    ) -> tuple[grpc.StatusCode, str, list[Message]]:
        """Any method by its descriptor; (status, details, responses)."""
        path = f"/{method.containing_service.full_name}/{method.name}"
        out = _class(method.output_type.full_name)
        kwargs = {"request_serializer": lambda m: m.SerializeToString(), "response_deserializer": out.FromString}
        if timeout is None:
            pending = getattr(request, "job_id", None) == self.known.pending_job or method.name in ENDLESS
            timeout = SHORT_DEADLINE if pending else LONG_DEADLINE
        try:
            if method.server_streaming:
                responses = list(self.channel.unary_stream(path, **kwargs)(request, timeout=timeout))
            else:
                responses = [self.channel.unary_unary(path, **kwargs)(request, timeout=timeout)]
            return grpc.StatusCode.OK, "", responses
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or "", []


def _advance_until(emulator: Emulator, channel: grpc.Channel, job_id: str, terminal: set[int]) -> None:
    jobs = api_grpc.LinkJobServiceStub(channel)
    for _ in range(4):
        emulator.advance(job_id)
        jobs.RefreshJobs(api.RefreshJobsRequest(), timeout=60)
        if jobs.GetJob(api.GetJobRequest(job_id=job_id), timeout=60).state in terminal:
            return
    raise AssertionError(f"job {job_id} did not reach {terminal}")


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with private_dir("aihubd-prop-") as base:
        sandbox = base / "sandbox"
        (sandbox / "existing").mkdir(parents=True)
        (sandbox / "dir.dlc").mkdir()
        (sandbox / "afile").write_text("a file, not a directory")
        (sandbox / "notes.txt").write_text("not a model")
        dlcs = []
        for i in range(3):
            dlc = sandbox / f"graph_{i}.dlc"
            dlc.write_bytes(f"graph-{i}".encode() + bytes(range(256)) * 8)
            dlcs.append(str(dlc))
        empty = sandbox / "empty.dlc"
        empty.write_bytes(b"")
        cwd = base / "cwd"
        cwd.mkdir()
        emulator = start_emulator(base)
        try:
            d = spawn_daemon(
                base / "run" / "aihubd.sock",
                base / "state",
                base / "daemon.log",
                ["--hub-url", emulator.base_url],
                cwd=cwd,
                # the Hub budget (10 requests/s by default) would make each Hub call ~0.1 s
                extra=["--poll-interval", "3600", "--hub-rate", "2000"],
                env=clean_env(AIHUBD_HUB_TOKEN="test-token-fuzz", QAIHUB_CLIENT_INI=str(base / "absent.ini")),
            )
            try:
                with grpc.insecure_channel(f"unix:{d.socket}") as channel:
                    jobs = api_grpc.LinkJobServiceStub(channel)

                    def submit(paths: list[str]) -> api.Job:
                        return jobs.SubmitLinkJob(
                            api.SubmitLinkJobRequest(models=[api.ModelInput(path=p) for p in paths], device=DEVICE),
                            timeout=60,
                        )

                    done, failed, pending = submit(dlcs[:2]), submit([str(empty)]), submit(dlcs[2:])
                    _advance_until(emulator, channel, done.job_id, {api.JOB_STATE_DONE})
                    _advance_until(emulator, channel, failed.job_id, {api.JOB_STATE_FAILED})
                    known = Known(
                        sandbox=sandbox,
                        done_job=done.job_id,
                        failed_job=failed.job_id,
                        pending_job=pending.job_id,
                        model_ids=sorted({m.model_id for j in (done, failed, pending) for m in j.models}),
                        dlc_files=[*dlcs, str(empty)],
                        other_files=[str(sandbox / "notes.txt")],
                        device=DEVICE,
                    )
                    yield Live(d, emulator, known, cwd, channel)
            finally:
                d.stop()
        finally:
            stop_process(emulator.proc)


def _check_written_paths(live: Live, method: MethodDescriptor, responses: list[Message]) -> None:
    """Whatever a download reports writing must be inside the sandbox (requests only name it)."""
    if method.output_type.full_name != "aihubd.v1.DownloadResponse":
        return
    for response in responses:
        for p in response.paths:  # type: ignore[attr-defined]
            assert Path(p).is_absolute() and Path(p).resolve().is_relative_to(live.known.sandbox.resolve()), p


_STRATEGIES: dict[str, st.SearchStrategy[Message]] = {}


def _strategy(method: MethodDescriptor, known: Known) -> st.SearchStrategy[Message]:
    if method.full_name not in _STRATEGIES:
        _STRATEGIES[method.full_name] = request_strategy(method.input_type, _class(method.input_type.full_name), known)
    return _STRATEGIES[method.full_name]


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
@settings(
    max_examples=EXAMPLES_PER_METHOD,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
def test_random_requests_never_crash_an_rpc(live: Live, method: MethodDescriptor, data: st.DataObject) -> None:
    request = data.draw(_strategy(method, live.known), label="request")
    code, details, responses = live.call(method, request)
    event(code.name)  # --hypothesis-show-statistics shows how deep the requests got
    assert code not in FORBIDDEN, f"{method.name} answered {code.name}: {details!r}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and method.name not in ENDLESS:
        assert getattr(request, "job_id", None) == live.known.pending_job, (
            f"{method.name} hit its {LONG_DEADLINE}s deadline on a request that should not block"
        )
    _check_written_paths(live, method, responses)


# ------------------------------------------------------------------ size limits, deterministically


def _padded(method: MethodDescriptor, size: int) -> Message:
    """An otherwise empty request whose serialized size is exactly ``size`` (an unknown field)."""
    request = _class(method.input_type.full_name)()
    tag = bytes([0xC2, 0xBB, 0x01])  # field 3000, wire type 2 (length-delimited): unused by the contract
    for payload in range(size - 8, size + 1):
        length = _varint(payload)
        if len(tag) + len(length) + payload == size:
            request.MergeFromString(tag + length + b"x" * payload)
            assert request.ByteSize() == size
            return request
    raise AssertionError(size)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_a_request_just_over_1_mib_is_resource_exhausted(live: Live, method: MethodDescriptor) -> None:
    code, details, _ = live.call(method, _padded(method, MAX_REQUEST + 1), timeout=LONG_DEADLINE)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_a_request_of_exactly_1_mib_is_handled(live: Live, method: MethodDescriptor) -> None:
    code, details, _ = live.call(method, _padded(method, MAX_REQUEST), timeout=LONG_DEADLINE)
    assert code not in FORBIDDEN | {grpc.StatusCode.RESOURCE_EXHAUSTED}, (code, details)


@pytest.mark.parametrize(
    "method", [m for m in METHODS if "job_id" in m.input_type.fields_by_name], ids=lambda m: m.name
)
def test_a_huge_job_id_is_invalid_and_not_echoed_back(live: Live, method: MethodDescriptor) -> None:
    request = _class(method.input_type.full_name)(job_id="j" * (MAX_REQUEST - 64))
    code, details, _ = live.call(method, request, timeout=LONG_DEADLINE)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details[:200])
    assert len(details) < 1000


# ------------------------------------------------------------------ bugs the fuzzer found (fixed; kept as regressions)


def _regressions(k: Known) -> list[tuple[str, Message]]:
    root = str(k.sandbox)
    long_name, over_max = f"{root}/out/{'a' * 300}", root + "/a" * 2100
    submit = lambda path: api.SubmitLinkJobRequest(models=[api.ModelInput(path=path)], device=DEVICE)  # noqa: E731
    logs = lambda d: api.DownloadJobLogsRequest(job_id=k.done_job, output_dir=d)  # noqa: E731
    arts = lambda d: api.DownloadArtifactsRequest(  # noqa: E731
        job_id=k.done_job, output_dir=d, artifact_type=api.ARTIFACT_TYPE_DEVICE_LOG
    )
    target = lambda d: api.DownloadTargetModelRequest(job_id=k.done_job, destination=d)  # noqa: E731
    return [
        ("SubmitLinkJob", submit(f"{long_name}.dlc")),
        ("SubmitLinkJob", submit(f"{over_max}.dlc")),
        ("DownloadJobLogs", logs(f"{root}/afile/sub")),
        ("DownloadJobLogs", logs("/dev/null/x")),
        ("DownloadJobLogs", logs(long_name)),
        ("DownloadJobLogs", logs(over_max)),
        ("DownloadArtifacts", arts(f"{root}/afile/sub")),
        ("DownloadArtifacts", arts(long_name)),
        ("DownloadTargetModel", target(long_name)),
        ("DownloadTargetModel", target(over_max)),
        ("DownloadTargetModel", target(f"{root}/out/{'b' * 253}")),
    ]


REGRESSION_IDS = [
    "submit-300-byte-name",
    "submit-over-path-max",
    "logs-under-a-file",
    "logs-under-dev-null",
    "logs-300-byte-name",
    "logs-over-path-max",
    "artifacts-under-a-file",
    "artifacts-300-byte-name",
    "target-300-byte-name",
    "target-over-path-max",
    "target-name-plus-suffix-over-255",
]


@pytest.mark.parametrize("index", range(len(REGRESSION_IDS)), ids=REGRESSION_IDS)
def test_found_by_the_fuzzer_a_bad_local_path_is_not_internal(live: Live, index: int) -> None:
    """An OSError about a requested path (too long, under a file) once escaped as INTERNAL."""
    method_name, request = _regressions(live.known)[index]
    method = next(m for m in METHODS if m.name == method_name)
    (live.known.sandbox / "out").mkdir(exist_ok=True)
    code, details, _ = live.call(method, request, timeout=LONG_DEADLINE)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{method_name} answered {code.name}: {details!r}"


# ------------------------------------------------------------------ and afterwards


def test_the_daemon_is_healthy_afterwards(live: Live) -> None:
    """Last in this module (pytest keeps file order): after every request above."""
    assert live.daemon.alive()
    info = api_grpc.DaemonServiceStub(live.channel).GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=30)
    assert info.version and info.hub_reachable
    jobs = api_grpc.LinkJobServiceStub(live.channel)
    assert jobs.GetJob(api.GetJobRequest(job_id=live.known.done_job), timeout=30).state == api.JOB_STATE_DONE
    assert jobs.GetJob(api.GetJobRequest(job_id=live.known.pending_job), timeout=30).state == api.JOB_STATE_CREATED
    assert list(live.cwd.iterdir()) == [], "something was written relative to the daemon's working directory"
    log = live.daemon.log_text()
    for symptom in ("Task exception was never retrieved", "Exception in callback"):
        assert symptom not in log, f"the daemon log shows {symptom!r}:\n{_around(log, symptom)}"
    # Still answering promptly (no wedged event loop): a plain process check plus one more call.
    subprocess.run(["kill", "-0", str(live.daemon.pid)], check=True)


def _around(log: str, needle: str, lines: int = 30) -> str:
    at = log.index(needle)
    start = log.rfind("\n", 0, max(0, at - 2000))
    return "\n".join(log[start:].splitlines()[:lines])
