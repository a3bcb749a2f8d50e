/**
 * The client's errors: one small class tree keyed by the daemon's ErrorInfo reasons
 * (daemon/aihubd/rpc/errors.py sends them in `grpc-status-details-bin`), by gRPC status code when
 * no reason came (grpc's own limits, a dead socket).
 *
 * ```
 * AihubdError                     anything this library throws (an aborted call rejects with signal.reason)
 * ├── DaemonUnavailableError      start the daemon or fix the socket path (socketPath; retryAfter when stopping)
 * ├── UserError                   fix the input
 * │   ├── InvalidArgumentError    INVALID_ARGUMENT
 * │   ├── NotFoundError           NOT_FOUND: no such job, model or artifact
 * │   ├── FailedPreconditionError FAILED_PRECONDITION, HUB_PROTOCOL_TOO_OLD
 * │   │   └── HubCredentialsError NO_HUB_CREDENTIALS, HUB_TOKEN_REJECTED: fix the daemon's Hub token
 * │   └── RevisionOutOfRangeError OUT_OF_RANGE: a watch cannot resume from its revision; list again
 * │       ├── RevisionCompactedError  REVISION_COMPACTED: older than the daemon's feed history
 * │       └── RevisionUnknownError    REVISION_UNKNOWN: never reached, or another store's
 * ├── HubUnavailableError         HUB_UNAVAILABLE, HUB_RETRY_AFTER: the Hub is unreachable or paused us; retry after retryAfter ms
 * ├── PermissionDeniedError       HUB_PERMISSION_DENIED, PERMISSION_DENIED, UNAUTHENTICATED
 * ├── ResourceExhaustedError      LOCAL_RESOURCE_EXHAUSTED, TOO_MANY_HUB_LOOKUPS, TOO_MANY_STREAMS, ..., or gRPC's RESOURCE_EXHAUSTED
 * │   └── WatchTooSlowError       WATCH_TOO_SLOW: a watch fell too far behind; resume from its revision
 * ├── DeadlineError               the caller's `timeout` passed (name "TimeoutError")
 * └── InternalError               HUB_PROTOCOL_ERROR, INTERNAL, anything unexpected
 * ```
 */

import { type ServiceError, status } from "@grpc/grpc-js";
import { ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details.js";
import { Status } from "./gen/google/rpc/status.js";

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";
const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";

export interface ErrorFields {
  /** The gRPC status code (`status` of @grpc/grpc-js), when the error came from a call. */
  code?: status;
  /** ErrorInfo.reason from the daemon ("NOT_FOUND", "HUB_UNAVAILABLE", ...); "" when none came. */
  reason?: string;
  /** Milliseconds to wait before retrying (the daemon's RetryInfo), when retrying makes sense. */
  retryAfter?: number;
  /** ErrorInfo.metadata from the daemon (e.g. "current_revision"); {} when none came. */
  metadata?: Readonly<Record<string, string>>;
  cause?: unknown;
}

export class AihubdError extends Error {
  readonly code: status | undefined;
  readonly reason: string;
  readonly retryAfter: number | undefined;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(message: string, fields: ErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.code = fields.code;
    this.reason = fields.reason ?? "";
    this.retryAfter = fields.retryAfter;
    this.metadata = fields.metadata ?? {};
  }
}

export class DaemonUnavailableError extends AihubdError {
  readonly socketPath: string;

  constructor(message: string, socketPath: string, fields: ErrorFields = {}) {
    super(message, { code: status.UNAVAILABLE, ...fields });
    this.socketPath = socketPath;
  }
}

export class UserError extends AihubdError {}
export class InvalidArgumentError extends UserError {}
export class NotFoundError extends UserError {}
export class FailedPreconditionError extends UserError {}
export class HubCredentialsError extends FailedPreconditionError {}
export class HubUnavailableError extends AihubdError {}
export class PermissionDeniedError extends AihubdError {}
export class ResourceExhaustedError extends AihubdError {}
export class InternalError extends AihubdError {}

/** A watch's `sinceRevision` cannot be resumed from: watch again without it (a new listing). */
export class RevisionOutOfRangeError extends UserError {
  /** The daemon's current revision, when it said (ErrorInfo metadata "current_revision"). */
  get currentRevision(): number | undefined {
    return revisionField(this.metadata, "current_revision");
  }
}
/** The revision is older than the daemon keeps (`aihubd serve --feed-history`). */
export class RevisionCompactedError extends RevisionOutOfRangeError {
  /** The oldest revision the daemon can still resume after (metadata "compacted_revision"). */
  get compactedRevision(): number | undefined {
    return revisionField(this.metadata, "compacted_revision");
  }
}
/** The revision is ahead of the daemon's store, or counts in another store (its state dir was replaced). */
export class RevisionUnknownError extends RevisionOutOfRangeError {}
/** The daemon ended a watch that fell too far behind (`--feed-stream-buffer`); resume from your revision. */
export class WatchTooSlowError extends ResourceExhaustedError {
  /** The revision to resume after (metadata "resume_revision"). */
  get resumeRevision(): number | undefined {
    return revisionField(this.metadata, "resume_revision");
  }
}

function revisionField(metadata: Readonly<Record<string, string>>, key: string): number | undefined {
  const value = metadata[key];
  return value === undefined || !/^\d+$/.test(value) ? undefined : Number(value);
}

/** The caller's `timeout` passed before the answer came. */
export class DeadlineError extends AihubdError {
  constructor(message: string, fields: ErrorFields = {}) {
    super(message, { code: status.DEADLINE_EXCEEDED, ...fields });
    this.name = "TimeoutError";
  }
}

type ErrorClass = new (message: string, fields: ErrorFields) => AihubdError;

/** The daemon's ErrorInfo reasons (daemon/aihubd/rpc/errors.py STATUS_OF). */
export const REASON_ERRORS: Readonly<Record<string, ErrorClass>> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  NOT_FOUND: NotFoundError,
  HUB_PERMISSION_DENIED: PermissionDeniedError,
  FAILED_PRECONDITION: FailedPreconditionError,
  LOCAL_RESOURCE_EXHAUSTED: ResourceExhaustedError,
  WATCH_TOO_SLOW: WatchTooSlowError,
  TOO_MANY_HUB_LOOKUPS: ResourceExhaustedError,
  OUT_OF_FILE_DESCRIPTORS: ResourceExhaustedError,
  TOO_MANY_STREAMS: ResourceExhaustedError,
  STREAM_NOT_READ: ResourceExhaustedError,
  REVISION_COMPACTED: RevisionCompactedError,
  REVISION_UNKNOWN: RevisionUnknownError,
  HUB_PROTOCOL_TOO_OLD: FailedPreconditionError,
  NO_HUB_CREDENTIALS: HubCredentialsError,
  HUB_TOKEN_REJECTED: HubCredentialsError,
  HUB_UNAVAILABLE: HubUnavailableError,
  HUB_RETRY_AFTER: HubUnavailableError,
  HUB_PROTOCOL_ERROR: InternalError,
  INTERNAL: InternalError,
};

/** When no reason came: by status code. UNAVAILABLE without a reason is the socket, not the Hub. */
const CODE_ERRORS: Partial<Record<status, ErrorClass>> = {
  [status.INVALID_ARGUMENT]: InvalidArgumentError,
  [status.OUT_OF_RANGE]: RevisionOutOfRangeError,
  [status.ALREADY_EXISTS]: UserError,
  [status.NOT_FOUND]: NotFoundError,
  [status.FAILED_PRECONDITION]: FailedPreconditionError,
  [status.PERMISSION_DENIED]: PermissionDeniedError,
  [status.UNAUTHENTICATED]: PermissionDeniedError,
  [status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
};

/** The error for a daemon that cannot be reached: names the socket and how to start the daemon. */
export function daemonUnavailable(socketPath: string, why: string, fields: ErrorFields = {}): DaemonUnavailableError {
  return new DaemonUnavailableError(
    `cannot reach the aihubd daemon at ${socketPath} (${why}); start it with \`aihubd serve\` ` +
      "(or `aihubd serve --hub emulator` to try it without an account), " +
      "or point the socketPath option / $AIHUBD_SOCKET at its socket",
    socketPath,
    fields,
  );
}

/** Translate a failed grpc-js call into this library's error. */
export function fromServiceError(error: ServiceError, socketPath: string): AihubdError {
  const { reason, retryAfter, metadata } = richDetails(error);
  const message = error.details || `the daemon answered ${status[error.code] ?? error.code} without a message`;
  const fields: ErrorFields = { code: error.code, reason, retryAfter, metadata, cause: error };
  if (reason === "DAEMON_SHUTTING_DOWN" || (!reason && error.code === status.UNAVAILABLE)) {
    return daemonUnavailable(socketPath, message, fields);
  }
  const kind = REASON_ERRORS[reason] ?? CODE_ERRORS[error.code] ?? InternalError;
  return new kind(message, fields);
}

function richDetails(error: ServiceError): {
  reason: string;
  retryAfter: number | undefined;
  metadata: Record<string, string>;
} {
  let reason = "";
  let retryAfter: number | undefined;
  let metadata: Record<string, string> = {};
  for (const value of error.metadata?.get(STATUS_DETAILS_KEY) ?? []) {
    if (typeof value === "string") continue;
    let details: Status;
    try {
      details = Status.decode(value);
    } catch {
      continue; // not a google.rpc.Status: ignore rather than hide the call's own error
    }
    for (const any of details.details) {
      if (any.typeUrl === ERROR_INFO_TYPE) {
        const info = ErrorInfo.decode(any.value);
        reason = info.reason;
        metadata = info.metadata;
      } else if (any.typeUrl === RETRY_INFO_TYPE) {
        const delay = RetryInfo.decode(any.value).retryDelay;
        if (delay !== undefined) retryAfter = delay.seconds * 1000 + Math.round(delay.nanos / 1e6);
      }
    }
  }
  return { reason, retryAfter, metadata };
}
