/** aihubd-client: the aihubd daemon's API for Node (IDE plugins, tools), over its local Unix socket. */

export { type CallOptions } from "./calls.js";
export {
  AihubdClient,
  CHANNEL_OPTIONS,
  CLIENT_ID_METADATA,
  type ClientOptions,
  isFinished,
  type ListJobsFilter,
  type ModelSource,
  type SubmitLinkJobOptions,
  type TargetModelStream,
} from "./client.js";
export {
  AihubdError,
  DaemonUnavailableError,
  DeadlineError,
  FailedPreconditionError,
  fromServiceError,
  HubCredentialsError,
  HubUnavailableError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  REASON_ERRORS,
  ResourceExhaustedError,
  RevisionCompactedError,
  RevisionOutOfRangeError,
  RevisionUnknownError,
  UserError,
  WatchTooSlowError,
} from "./errors.js";
export {
  ArtifactType,
  type DaemonInfo,
  type Device,
  type Job,
  JobState,
  type ListJobsResponse,
  type ModelRef,
  type TargetModel,
} from "./gen/aihubd/v1/aihubd.js";
export { type ServingStatus } from "./health.js";
export { DEFAULT_RECONNECT, type ReconnectPolicy } from "./reconnect.js";
export { defaultSocketPath, SOCKET_ENV } from "./socket-path.js";
export {
  type FeedMarkEvent,
  type JobChangeEvent,
  type WatchEvent,
  type WatchJobsFilter,
  type WatchJobsOptions,
} from "./watch.js";
