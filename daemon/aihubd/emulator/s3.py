"""The emulator's S3 endpoint: moto's S3 server on loopback, for the credentials path.

The Hub's credentials replies (``S3Credentials``) name one bucket/key and carry
short-lived STS-style keys; clients reach the endpoint through
``AWS_ENDPOINT_URL_S3`` (botocore honours it, so the official client's
``s3_transfer`` does too). `S3Endpoint` runs a ``ThreadedMotoServer`` (moto's own
S3 implementation: multipart, ranges, checksums) in a thread of this process, with
one bucket per emulator, and moves files between it and the emulator's blob store
with botocore. Its calls block: run them in a worker thread.

moto accepts any well-formed signature; `s3_gate.CredentialGate`, a WSGI layer in front of
it, holds each handed-out credential to its one object, its session token and its
expiration (on the emulator's clock), with S3's error replies.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
from botocore.client import Config
from botocore.exceptions import ClientError
from google.protobuf.timestamp_pb2 import Timestamp
from qai_hub import public_api_pb2 as pb

from .s3_gate import CredentialGate, Grant

__all__ = ["REGION", "S3Endpoint"]

REGION = "us-east-1"
_COPY_BLOCK = 1 << 20
# The emulator's own keys for its bookkeeping calls (moto accepts any).
_ADMIN_KEY = ("AKIAEMULATORADMIN000", "emulator-admin-secret")


class S3Endpoint:
    """A moto S3 server on ``host`` and a bucket in it. Start once, stop once."""

    def __init__(self, host: str = "127.0.0.1", clock: Callable[[], float] = time.time) -> None:
        self._host = host
        self._clock = clock
        self._gate: CredentialGate | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
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
        # moto's own server parts, as its ThreadedMotoServer assembles them, with the gate in front.
        from moto.moto_server.werkzeug_app import (  # imported only by emulators that use S3
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        self._gate = CredentialGate(DomainDispatcherApplication(create_backend_app), _ADMIN_KEY[0], self._clock)
        self._server = make_server(self._host, 0, self._gate, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="aihubd-emulator-s3", daemon=True)
        self._thread.start()
        self._url = f"http://{self._host}:{self._server.server_port}"
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
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._url = None

    # -------------------------------------------------------------- credentials
    def credentials(self, key: str, filename: str, ttl_seconds: float) -> pb.S3Credentials:
        """Short-lived keys for ``key`` in the bucket only (fresh for every call)."""
        if self._gate is None:
            raise RuntimeError("the S3 endpoint has not been started")
        expires_at = self._clock() + ttl_seconds
        expiration = Timestamp()
        expiration.FromDatetime(datetime.fromtimestamp(expires_at, tz=UTC))
        access_key_id = "ASIA" + secrets.token_hex(8).upper()
        session_token = secrets.token_urlsafe(48)
        self._gate.grant(access_key_id, Grant(self.bucket, key, session_token, expires_at))
        return pb.S3Credentials(
            access_key_id=access_key_id,
            secret_access_key=secrets.token_urlsafe(30),
            session_token=session_token,
            expiration=expiration,
            bucket=self.bucket,
            key=key,
            region=REGION,
            use_transfer_acceleration=False,
            filename=filename,
        )

    def alias(self, access_key_id: str, session_token: str, like: str) -> bool:
        """See ``CredentialGate.alias``."""
        return self._gate is not None and self._gate.alias(access_key_id, session_token, like)

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
