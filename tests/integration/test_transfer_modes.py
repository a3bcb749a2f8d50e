"""The daemon in every transfer mode of the emulator delivers exactly the bytes the unmodified
official client downloads: target model and logs, and the model it uploaded reads back whole.

``url``/``multipart`` exercise pre-signed URLs (multipart: a model in 3 parts), ``credentials``
the S3-credentials path against the emulator's moto endpoint (reached through AWS_ENDPOINT_URL_S3,
as botocore and the official client do), ``mixed`` both in one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import qai_hub as hub
from child_procs import popen
from e2e_support import (
    HUB_DAEMON_FLAGS,
    TEST_TOKEN,
    Emulator,
    clean_env,
    finish_job,
    first_line,
    start_daemon,
    stopping,
    stub,
    token_env,
)

from aihubd_api.v1 import aihubd_pb2 as api

DEVICE = "Snapdragon 8 Elite QRD"
PART = 5 << 20
MODES = ["url", "multipart", "credentials", "mixed"]


def _start_emulator(tmp_path: Path, mode: str) -> tuple[Emulator, str]:
    log = tmp_path / "emulator.log"
    with log.open("w") as err:
        proc = popen(
            [
                sys.executable, "-m", "aihubd", "emulator", "--port", "0", "--state-dir", str(tmp_path / "emu"),
                "--manual", "--transfer", mode, "--part-bytes", str(PART), "--large-file-bytes", str(1 << 20),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=clean_env(),
        )  # fmt: skip
    emulator = Emulator(first_line(proc, "the emulator", log), proc)
    s3 = (
        first_line(proc, "the emulator's S3 endpoint", log).removeprefix("s3: ")
        if mode in ("credentials", "mixed")
        else ""
    )
    return emulator, s3


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", MODES)
def test_daemon_delivers_the_official_clients_bytes(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "big.dlc"
    model.write_bytes(os.urandom(2 * PART + 12345))  # 3 parts in multipart mode, "large" in mixed
    emulator, s3 = _start_emulator(tmp_path, mode)
    aws = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    if s3:
        aws["AWS_ENDPOINT_URL_S3"] = s3
    for name, value in aws.items():
        monkeypatch.setenv(name, value)  # the official client, in this process
    with (
        stopping(emulator),
        stopping(
            start_daemon(
                tmp_path, ["--hub-url", emulator.base_url], env={**token_env(tmp_path), **aws}, extra=HUB_DAEMON_FLAGS
            )
        ) as daemon,
    ):
        with stub(daemon.socket) as s:
            job = s.SubmitLinkJob(
                api.SubmitLinkJobRequest(models=[api.ModelInput(path=str(model))], device=DEVICE, name=f"mode {mode}"),
                timeout=120,
            )
            finish_job(emulator, daemon, job.job_id)
            (tmp_path / "d").mkdir()
            mine = s.DownloadTargetModel(
                api.DownloadTargetModelRequest(job_id=job.job_id, destination=str(tmp_path / "d")), timeout=120
            )
            my_logs = s.DownloadJobLogs(
                api.DownloadJobLogsRequest(job_id=job.job_id, output_dir=str(tmp_path / "dlogs")), timeout=120
            )
        served = emulator.counters()

        official = hub.Client(
            config=hub.ClientConfig(
                api_token=TEST_TOKEN, api_url=emulator.base_url, web_url=emulator.base_url + "/", verbose=False
            )
        )
        theirs = official.get_job(job.job_id)
        assert isinstance(theirs, hub.LinkJob)
        (tmp_path / "o").mkdir()
        their_model = theirs.download_target_model(str(tmp_path / "o"))
        their_logs = theirs.download_job_logs(str(tmp_path / "ologs"))
        uploaded = theirs.models[0].download(str(tmp_path / "uploaded.dlc"))

    assert Path(uploaded).read_bytes() == model.read_bytes()  # the daemon's upload arrived whole
    assert len(mine.paths) == 1 and their_model is not None
    assert Path(mine.paths[0]).read_bytes() == Path(their_model).read_bytes()
    assert Path(mine.paths[0]).name == Path(their_model).name
    assert sorted(Path(p).name for p in my_logs.paths) == sorted(Path(p).name for p in their_logs)
    for path in my_logs.paths:
        assert Path(path).read_bytes() == (tmp_path / "ologs" / Path(path).name).read_bytes()
    # The daemon really took the mode's path (its log says how each file moved).
    log = daemon.log.read_text()
    uploaded_by = {
        "url": "by 1 pre-signed part URL(s)",
        "multipart": "by 3 pre-signed part URL(s)",
        "credentials": "by S3 credentials",
        "mixed": "by S3 credentials",  # the emulator's first large file in mixed mode
    }[mode]
    assert f"uploaded big.dlc ({model.stat().st_size} bytes) as model" in log and uploaded_by in log, log
    fetched = {line.rsplit(" by ", 1)[1].strip() for line in log.splitlines() if " fetched " in line}
    if mode == "mixed":  # large files alternate between credentials and URLs, small ones go by URL
        assert "URL" in fetched and "by S3 credentials" in log, log
    else:
        assert fetched == ({"S3 credentials"} if mode == "credentials" else {"URL"}), log
    assert sum(n for r, n in served.items() if r.startswith("PUT ")) >= (3 if mode == "multipart" else 0), served
