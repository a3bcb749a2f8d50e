"""The unmodified official qai-hub client against the emulator in every transfer mode.

Each mode answers the client's transfer requests (which always carry
``supports_s3_credentials=true``) its own way: one URL, part URLs, S3 credentials on the
emulator's moto endpoint (reached through ``AWS_ENDPOINT_URL_S3``, as botocore honours it),
or ``mixed``. The same workflow runs in each: upload a small and a large model, link them,
wait, download the target model, the logs and the results, and the large model back. The
request counters show which path each transfer took, so a mode that silently fell back to
another would fail here; the bytes are compared with what the emulator holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import qai_hub as hub

from aihubd.emulator import EmulatorConfig, EmulatorThread
from aihubd.emulator.config import DEFAULT_LARGE_FILE_BYTES

WAIT_TIMEOUT = 60
DEVICE = "Snapdragon 8 Elite QRD"
PART_BYTES = 512 * 1024
LARGE_BYTES = DEFAULT_LARGE_FILE_BYTES + DEFAULT_LARGE_FILE_BYTES // 2  # crosses the default threshold
LARGE_PARTS = -(-LARGE_BYTES // PART_BYTES)
UPLOAD_COMPLETE = "POST /api/v1/models/{model_id}/upload_complete/"
MULTIPART_COMPLETE = "POST /api/v1/models/{model_id}/multipart_upload/"
BLOB_PUT = "PUT /blobs/{blob_key}"
BLOB_GET = "GET /blobs/{blob_key}"


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
    small.write_bytes(_pseudo_random(10_000, b"small"))
    large.write_bytes(_pseudo_random(LARGE_BYTES, b"large"))
    return small, large


@pytest.fixture(params=["url", "multipart", "credentials", "mixed"])
def mode_emu(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[EmulatorThread]:
    config = EmulatorConfig(link_seconds=0.25, transfer=request.param, part_bytes=PART_BYTES)
    with EmulatorThread(config) as et:
        for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
        if et.s3_endpoint_url is not None:
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", et.s3_endpoint_url)
        else:
            monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        yield et


def _expected_paths(mode: str) -> dict[str, int]:
    """Requests per route the workflow makes, for the routes that tell the paths apart.

    Uploads: small + large. Downloads by the workflow: target model (large: it holds the
    large input), two logs (small), the large model back. In ``mixed`` the first large
    object (the large upload) goes by credentials, the second (the target model) by URL,
    the third (the large model's download) by credentials.
    """
    if mode == "url":
        return {BLOB_PUT: 2, MULTIPART_COMPLETE: 2, UPLOAD_COMPLETE: 0}
    if mode == "multipart":
        return {BLOB_PUT: 1 + LARGE_PARTS, MULTIPART_COMPLETE: 2, UPLOAD_COMPLETE: 0}
    if mode == "credentials":
        return {BLOB_PUT: 0, MULTIPART_COMPLETE: 0, UPLOAD_COMPLETE: 2}
    return {BLOB_PUT: 1, MULTIPART_COMPLETE: 1, UPLOAD_COMPLETE: 1}


def test_link_workflow_in_every_transfer_mode(mode_emu: EmulatorThread, models, tmp_path: Path) -> None:
    mode = mode_emu.emulator.config.transfer
    small, large = models
    config = hub.ClientConfig(
        api_token="owner-token", api_url=mode_emu.base_url, web_url=mode_emu.base_url + "/", verbose=False
    )
    client = hub.Client(config=config)
    small_model = client.upload_model(str(small))
    large_model = client.upload_model(str(large))
    store = mode_emu.emulator.blob_store
    assert store.model_path(small_model.model_id).read_bytes() == small.read_bytes()
    assert store.model_path(large_model.model_id).read_bytes() == large.read_bytes()

    job = client.submit_link_job(models=[small_model, large_model], device=hub.Device(DEVICE), name="modes")
    assert job.wait(timeout=WAIT_TIMEOUT).success

    target_dir = tmp_path / "target"
    target_dir.mkdir()
    target_path = job.download_target_model(str(target_dir))
    assert target_path is not None
    target = job.get_target_model()
    assert target is not None
    served_target = store.model_path(target.model_id).read_bytes()
    assert len(served_target) > LARGE_BYTES  # a large download too
    assert Path(target_path).read_bytes() == served_target

    logs = job.download_job_logs(str(tmp_path / "logs"))
    assert [Path(p).read_bytes() for p in logs] == [
        store.artifact_path(job.job_id, 1).read_bytes(),
        store.artifact_path(job.job_id, 5).read_bytes(),
    ]
    back = Path(large_model.download(str(tmp_path / "large-back.dlc")))
    assert back.read_bytes() == large.read_bytes()

    counts = mode_emu.counters()
    seen = {route: counts.get(route, 0) for route in (BLOB_PUT, MULTIPART_COMPLETE, UPLOAD_COMPLETE)}
    assert seen == _expected_paths(mode), (mode, seen)
    blob_gets = counts.get(BLOB_GET, 0)
    assert blob_gets == {"url": 4, "multipart": 4, "credentials": 0, "mixed": 3}[mode], (mode, blob_gets)

    results = job.download_results(str(tmp_path / "results"))
    assert results.status.success
    result_files = {p.name: p.read_bytes() for p in Path(results.artifacts_dir).rglob("*") if p.is_file()}
    assert served_target in result_files.values()
    assert store.artifact_path(job.job_id, 5).read_bytes() in result_files.values()
