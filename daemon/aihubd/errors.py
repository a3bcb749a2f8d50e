"""The daemon's error kinds, grouped by what the caller can do about them.

    AihubdError
    ├── InvalidArgument       the request is wrong: fix the input (bad path, not a .dlc, bad id)
    ├── NotFound              the job, device, model or file does not exist (or is not yours)
    ├── PermissionDenied      it exists, but this account may not do that (e.g. rename a job shared with you)
    ├── FailedPrecondition    the request is fine but the state is not (e.g. no target model yet)
    ├── ResourceExhausted     a local limit was hit (disk full, request too large)
    │   ├── ReaderTooSlow     a WatchJobs reader fell too far behind: resume from its revision
    │   ├── OutOfDescriptors  the daemon ran out of file descriptors (EMFILE/ENFILE): retry later
    │   ├── TooManyStreams    too many open streams: close some first
    │   ├── StreamStalled     a stream's reader took nothing for too long: the stream was ended
    │   └── Throttled         this client has too many Hub look-ups going: retry after ``retry_after``
    ├── OutOfRange            a position the daemon does not hold
    │   └── RevisionCompacted the feed's history no longer reaches that revision: list again
    ├── HubAuthError          the Hub rejected the daemon's credentials: reconfigure them
    ├── HubUnavailable        the Hub could not be reached or answered 5xx / 429: retry later
    │   └── HubPaused         the Hub asked (Retry-After) to wait longer than a call may: retry after ``retry_after``
    ├── HubProtocolTooOld     the Hub requires a newer client protocol (426): update aihubd
    └── HubError              the Hub answered with something unexpected

No grpc import here: rpc/errors.py maps each kind to a status code in one table.
"""

from __future__ import annotations

__all__ = [
    "AihubdError",
    "FailedPrecondition",
    "HubAuthError",
    "HubError",
    "HubPaused",
    "HubProtocolTooOld",
    "HubUnavailable",
    "InvalidArgument",
    "NotFound",
    "OutOfDescriptors",
    "OutOfRange",
    "PermissionDenied",
    "ReaderTooSlow",
    "ResourceExhausted",
    "RevisionCompacted",
    "StreamStalled",
    "Throttled",
    "TooManyStreams",
]


class AihubdError(Exception):
    """Base of every error the daemon reports to a client. The text is shown to a person."""


class InvalidArgument(AihubdError):
    """The request itself is wrong."""


class NotFound(AihubdError):
    """The thing named in the request does not exist, or is not visible to this account."""


class PermissionDenied(AihubdError):
    """The account may see the thing but not change it."""


class FailedPrecondition(AihubdError):
    """The request is valid, but not in the current state."""


class ResourceExhausted(AihubdError):
    """A local resource (disk, size limit) ran out."""


class OutOfDescriptors(ResourceExhausted):
    """EMFILE/ENFILE somewhere in a call: the daemon holds too many connections or files."""


class TooManyStreams(ResourceExhausted):
    """A peer holds as many open streams as allowed."""


class StreamStalled(ResourceExhausted):
    """A stream's write did not complete in time (nobody reads it); its resources were released."""


class Throttled(ResourceExhausted):
    """A per-client limit was hit; the client may try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReaderTooSlow(ResourceExhausted):
    """A feed reader fell further behind than its buffer holds; it resumes from ``resume_revision``."""

    def __init__(self, message: str, resume_revision: int) -> None:
        super().__init__(message)
        self.resume_revision = resume_revision
        self.metadata = {"resume_revision": str(resume_revision)}


class OutOfRange(AihubdError):
    """A position (a feed revision) outside what the daemon holds."""

    def __init__(self, message: str, current_revision: int, compacted_revision: int) -> None:
        super().__init__(message)
        self.metadata = {"current_revision": str(current_revision), "compacted_revision": str(compacted_revision)}


class RevisionCompacted(OutOfRange):
    """The revision is older than the feed's kept history: the reader must list again."""


class HubError(AihubdError):
    """The Hub answered, but not as expected."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubAuthError(HubError):
    """The Hub rejected the daemon's token (401)."""


class HubUnavailable(HubError):
    """The Hub is unreachable, overloaded (5xx) or rate limiting (429)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class HubPaused(HubUnavailable):
    """A Retry-After pause is in force for longer than the call may wait: nothing was sent."""


class HubProtocolTooOld(HubError):
    """The Hub refused the client protocol the daemon speaks (426 Upgrade Required)."""
