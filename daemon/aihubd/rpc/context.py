"""The servicer context type every handler takes (grpc.aio's, with any request/response type)."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

__all__ = ["Context"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
