"""The exit codes of ``aihubctl``, what they mean, and which exception gives which."""

from __future__ import annotations

from enum import IntEnum

from .errors import DaemonUnavailableError, UserError

__all__ = ["ExitCode", "exit_code_for", "exit_codes_help"]


class ExitCode(IntEnum):
    """Every exit status ``aihubctl`` uses."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    DAEMON_UNREACHABLE = 3
    ERROR = 4
    INTERRUPTED = 130


_MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.JOB_FAILED: "the job FAILED on the Hub (or lacks an artifact type asked for)",
    ExitCode.USAGE: "usage error or bad input (unknown job, bad model path, ...)",
    ExitCode.DAEMON_UNREACHABLE: "the daemon is not reachable (start it: aihubd serve --detach)",
    ExitCode.ERROR: "any other error (Hub unavailable, timeout, internal)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); the job itself keeps running",
}

# First match wins; anything else is ExitCode.ERROR.
_EXCEPTION_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (DaemonUnavailableError, ExitCode.DAEMON_UNREACHABLE),
    (UserError, ExitCode.USAGE),
    (KeyboardInterrupt, ExitCode.INTERRUPTED),
)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status for a command that ended with ``exc``."""
    for exc_type, code in _EXCEPTION_EXIT_CODES:
        if isinstance(exc, exc_type):
            return code
    return ExitCode.ERROR


def exit_codes_help() -> str:
    """The exit-code table for ``--help`` (``\\b`` keeps click from rewrapping it)."""
    lines = [f"  {int(code):<4} {_MEANING[code]}" for code in ExitCode]
    return "\b\nExit codes:\n" + "\n".join(lines)
