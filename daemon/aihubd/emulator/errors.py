"""Errors the emulator's handlers raise; each becomes a JSON ``{"detail": ...}`` reply."""

from __future__ import annotations

__all__ = ["BadRequest", "Forbidden", "HubError", "NotFound", "Unauthorized"]


class HubError(Exception):
    """An HTTP error reply with a ``detail`` message."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(HubError):
    """400: the request body or query is invalid."""

    status = 400


class Unauthorized(HubError):
    """401: missing or unknown token."""

    status = 401


class Forbidden(HubError):
    """403: visible, but the caller may not do this (or a bad blob signature)."""

    status = 403


class NotFound(HubError):
    """404: unknown, or not visible to the caller."""

    status = 404
