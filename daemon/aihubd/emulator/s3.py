"""The emulator's S3 endpoint: moto's S3 server on loopback, for the credentials path.

The Hub's credentials replies (``S3Credentials``) name one bucket/key and carry
short-lived STS-style keys; clients reach the endpoint through
``AWS_ENDPOINT_URL_S3`` (botocore honours it, so the official client's
``s3_transfer`` does too). `S3Endpoint` runs a ``ThreadedMotoServer`` (moto's own
S3 implementation: multipart, ranges, checksums) in a thread of this process, with
one bucket per emulator, and moves files between it and the emulator's blob store
with botocore. Its calls block: run them in a worker thread.

moto accepts any well-formed signature, so the credentials' single-object scope is
not enforced by the endpoint; the emulator only ever looks at the key it handed out
(an upload to another key is "not uploaded", a download of another key is
``NoSuchKey``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
from botocore.client import Config
from botocore.exceptions import ClientError
from google.protobuf.timestamp_pb2 import Timestamp
from qai_hub import public_api_pb2 as pb

__all__ = ["REGION", "S3Endpoint"]

REGION = "us-east-1"
_COPY_BLOCK = 1 << 20
# The emulator's own keys for its bookkeeping calls (moto accepts any).
_ADMIN_KEY = ("AKIAEMULATORADMIN000", "emulator-admin-secret")


class S3Endpoint:
    """A moto S3 server on ``host`` and a bucket in it. Start once, stop once."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        from moto.server import ThreadedMotoServer  # imported only by emulators that use S3

        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self.bucket = "aihub-emulator-" + secrets.token_hex(6)
        self._url: str | None = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._published: set[str] = set()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: what clients put in ``AWS_ENDPOINT_URL_S3``."""
        if self._url is None:
            raise RuntimeError("the S3 endpoint has not been started")
        return self._url

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._url = f"http://{host}:{port}"
        self._client = botocore.session.get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self._url,
            aws_access_key_id=_ADMIN_KEY[0],
            aws_secret_access_key=_ADMIN_KEY[1],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self._client.create_bucket(Bucket=self.bucket)
        return self._url

    def stop(self) -> None:
        if self._url is not None:
            self._server.stop()
            self._url = None

    # -------------------------------------------------------------- credentials
    def credentials(self, key: str, filename: str, ttl_seconds: float, now: float) -> pb.S3Credentials:
        """Short-lived keys for ``key`` in the bucket (fresh for every call)."""
        expiration = Timestamp()
        expiration.FromDatetime(datetime.fromtimestamp(now + ttl_seconds, tz=UTC))
        return pb.S3Credentials(
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            session_token=secrets.token_urlsafe(48),
            expiration=expiration,
            bucket=self.bucket,
            key=key,
            region=REGION,
            use_transfer_acceleration=False,
            filename=filename,
        )

    # ----------------------------------------------------------- object moves
    def publish(self, key: str, path: Path) -> None:
        """Put the file at ``path`` to ``key`` once (blobs never change under a key). Blocking."""
        with self._lock:
            if key in self._published:
                return
        with open(path, "rb") as body:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
        with self._lock:
            self._published.add(key)

    def fetch(self, key: str, dest: Path) -> tuple[int, str] | None:
        """Copy object ``key`` to ``dest`` atomically; its size and SHA-256 hex, or None if
        there is no such object. Blocking."""
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        sha = hashlib.sha256()
        size = 0
        stream = reply["Body"]
        with open(tmp, "wb") as out:
            while block := stream.read(_COPY_BLOCK):
                out.write(block)
                sha.update(block)
                size += len(block)
        os.replace(tmp, dest)
        return size, sha.hexdigest()
