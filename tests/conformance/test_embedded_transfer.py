"""`aihubd serve --hub emulator --emulator-transfer MODE`: the mode reaches the embedded emulator,
and in the credentials modes the daemon finds the emulator's S3 endpoint by itself (it sets
``AWS_ENDPOINT_URL_S3`` for its own botocore): a job's models go up and its target model and logs
come back, byte for byte what the embedded emulator linked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from e2e_support import clean_env, start_daemon, stopping

from aihubd.emulator.linker import extract_graph, read_container
from aihubd_client import Client

DEVICE = "Snapdragon 8 Elite QRD"
LARGE_BYTES = 3 << 19  # 1.5 MiB: above the default 1 MiB "mixed" threshold


def _pseudo_random(size: int, seed: bytes) -> bytes:
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


@pytest.mark.parametrize("mode", ["credentials", "mixed"])
def test_embedded_emulator_transfer_mode(tmp_path: Path, mode: str) -> None:
    small = tmp_path / "small.dlc"
    large = tmp_path / "large.dlc"
    small.write_bytes(_pseudo_random(5000, b"s"))
    large.write_bytes(_pseudo_random(LARGE_BYTES, b"l"))
    env = clean_env(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    env.pop("AWS_ENDPOINT_URL_S3", None)
    args = ["--hub", "emulator", "--emulator-link-seconds", "0.2", "--emulator-transfer", mode]
    with stopping(start_daemon(tmp_path, args, env=env, extra=["--poll-interval", "0.1"])) as daemon:
        with Client(daemon.socket) as client:
            job = client.submit_link_job([str(small), str(large)], DEVICE)
            assert job.wait(timeout=60).success
            (tmp_path / "out").mkdir()
            target = job.download_target_model(str(tmp_path / "out"))
            logs = job.download_job_logs(str(tmp_path / "logs"))
        log = daemon.log.read_text()
    assert "S3 endpoint at http://127.0.0.1:" in log
    assert target is not None
    container = Path(target).read_bytes()
    header, _ = read_container(container)
    assert len(header["graphs"]) == 2  # type: ignore[arg-type]
    assert [extract_graph(container, i) for i in range(2)] == [small.read_bytes(), large.read_bytes()]
    assert len(logs) == 2 and all(Path(p).stat().st_size > 0 for p in logs)
