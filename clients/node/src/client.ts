/**
 * AihubdClient: the daemon's API over its Unix socket, as promises and async iterators. Every
 * method takes `{ signal, timeout }` (CallOptions): aborting cancels the call, never the job.
 */

import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { Readable } from "node:stream";
import { randomUUID } from "node:crypto";
import {
  type ChannelOptions,
  credentials,
  type Interceptor,
  InterceptingCall,
  type ServiceError,
  status,
} from "@grpc/grpc-js";

import { type CallOptions, serverStream, type UnaryMethod, unary } from "./calls.js";
import {
  AihubdError,
  DaemonUnavailableError,
  DeadlineError,
  daemonUnavailable,
  fromServiceError,
  InternalError,
} from "./errors.js";
import {
  type ArtifactType,
  type Chunk,
  type DaemonInfo,
  DaemonServiceClient,
  type DisableSharingRequest,
  type DownloadArtifactsRequest,
  type DownloadJobLogsRequest,
  type DownloadResponse,
  type DownloadTargetModelRequest,
  type GetSharingRequest,
  type GetTargetModelRequest,
  type Job,
  JobState,
  LinkJobServiceClient,
  type ListJobsResponse,
  type ModifySharingRequest,
  type Sharing,
  type TargetModel,
  type UntrackJobRequest,
  type UntrackJobResponse,
} from "./gen/aihubd/v1/aihubd.js";
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK_PATH,
  type ServingStatus,
} from "./health.js";
import { Reconnect, type ReconnectPolicy, sleep } from "./reconnect.js";
import { defaultSocketPath } from "./socket-path.js";
import { FeedCursor, type WatchEvent, type WatchJobsFilter, type WatchJobsOptions } from "./watch.js";

export interface ClientOptions {
  /** The daemon's socket (default: defaultSocketPath(): $AIHUBD_SOCKET, else the user runtime dir's). */
  socketPath?: string;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
  /** How wait() rides out a daemon restart. */
  reconnect?: Partial<ReconnectPolicy>;
}

/** A model for submitLinkJob: a local .dlc path (made absolute) or a model already on the Hub. */
export type ModelSource = string | { modelId: string };

export interface SubmitLinkJobOptions {
  models: ModelSource[];
  /** A Hub device name, e.g. "Snapdragon 8 Elite QRD". */
  device: string;
  name?: string;
  options?: string;
  projectId?: string;
  /** Idempotency key (default: a fresh UUID): retrying with the same one never creates a second job. */
  requestId?: string;
}

export interface ListJobsFilter {
  states?: JobState[];
  nameContains?: string;
  /** 0 or absent: the daemon's default (50); at most 1000. */
  limit?: number;
  offset?: number;
}

/** The target model as a byte stream, with the Hub's filename and total size. */
export interface TargetModelStream extends Readable {
  readonly filename: string;
  readonly totalSize: number;
}

export const CHANNEL_OPTIONS: ChannelOptions = {
  // A Unix socket never goes through an HTTP proxy, whatever the environment says.
  "grpc.enable_http_proxy": 0,
  // Chunks are at most 1 MiB; room for overhead.
  "grpc.max_receive_message_length": 8 * 1024 * 1024,
  // A restarted daemon is found again within a second.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

/** Every call carries its channel's random id under this key: the daemon counts its per-client
 * bounds (look-ups of untracked jobs, open streams) by it, since gRPC names every Unix-socket peer
 * alike. A fairness key among the user's own clients, not a credential. */
export const CLIENT_ID_METADATA = "aihubd-client-id";

/** A grpc-js interceptor adding `clientId` to every call's metadata. */
function identifying(clientId: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(CLIENT_ID_METADATA, clientId);
        next(metadata, listener);
      },
    });
}

const TERMINAL = new Set([JobState.JOB_STATE_DONE, JobState.JOB_STATE_FAILED]);

/** Whether a job has ended (DONE or FAILED). */
export function isFinished(job: Pick<Job, "state">): boolean {
  return TERMINAL.has(job.state);
}

export class AihubdClient {
  readonly socketPath: string;
  /** This client's random id, sent with every call (CLIENT_ID_METADATA); one per channel. */
  readonly clientId = randomUUID().replace(/-/g, "");
  private readonly channelOptions: ChannelOptions;
  private readonly reconnect: Partial<ReconnectPolicy>;
  private stubs: { jobs: LinkJobServiceClient; daemon: DaemonServiceClient } | undefined;
  private closed = false;

  constructor(options: ClientOptions = {}) {
    this.socketPath = options.socketPath !== undefined ? resolve(options.socketPath) : defaultSocketPath();
    this.channelOptions = { ...CHANNEL_OPTIONS, ...options.channelOptions };
    this.reconnect = options.reconnect ?? {};
  }

  /** Close the channel, cancelling calls in flight. Idempotent. */
  close(): void {
    this.closed = true;
    this.stubs?.jobs.close();
    this.stubs = undefined;
  }

  // ------------------------------------------------------------------ the daemon

  async daemonInfo(options: CallOptions = {}): Promise<DaemonInfo> {
    const { daemon } = this.open();
    return unary((r, m, o, cb) => daemon.getDaemonInfo(r, m, o, cb), {}, options, this.translate);
  }

  /** The standard health check (grpc.health.v1): "SERVING" while the daemon serves, "NOT_SERVING"
   * once it is stopping. `service` "" is the daemon as a whole, else e.g. "aihubd.v1.LinkJobService". */
  async health(service = "", options: CallOptions = {}): Promise<ServingStatus> {
    const { jobs } = this.open();
    const method: UnaryMethod<string, ServingStatus> = (request, metadata, callOptions, callback) =>
      jobs.makeUnaryRequest(
        HEALTH_CHECK_PATH,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        request,
        metadata,
        callOptions,
        (error, response) => callback(error, response ?? "UNKNOWN"),
      );
    return unary(method, service, options, this.translate);
  }

  // ------------------------------------------------------------------ jobs

  async listJobs(filter: ListJobsFilter = {}, options: CallOptions = {}): Promise<ListJobsResponse> {
    const { jobs } = this.open();
    const request = {
      states: filter.states ?? [],
      nameContains: filter.nameContains ?? "",
      limit: filter.limit ?? 0,
      offset: filter.offset ?? 0,
    };
    return unary((r, m, o, cb) => jobs.listJobs(r, m, o, cb), request, options, this.translate);
  }

  /** The daemon's cached view of a job (never blocks). */
  async getJob(jobId: string, options: CallOptions = {}): Promise<Job> {
    const { jobs } = this.open();
    return unary((r, m, o, cb) => jobs.getJob(r, m, o, cb), { jobId }, options, this.translate);
  }

  /**
   * The job's current state, then each change (state or message), ending after DONE or FAILED:
   * the daemon's WaitJob stream, never a poll. When the daemon stops or dies mid-way, reconnects
   * (ReconnectPolicy) and goes on without repeating a state. `timeout` (ms) covers the whole
   * iteration (DeadlineError); `signal`, or leaving the loop early, cancels the stream only.
   */
  async *jobUpdates(jobId: string, options: CallOptions = {}): AsyncGenerator<Job, void, undefined> {
    const deadline = options.timeout && options.timeout > 0 ? Date.now() + options.timeout : undefined;
    const outage = new Reconnect(this.reconnect);
    let shown: string | undefined;
    for (;;) {
      let last: Job | undefined;
      try {
        const { jobs } = this.open();
        const stream = serverStream(
          (r, m, o) => jobs.waitJob(r, m, o),
          { jobId },
          { signal: options.signal, timeout: options.timeout, deadline },
          this.waitTranslate(jobId),
        );
        for await (const job of stream) {
          outage.connected();
          last = job;
          const key = `${job.state}\u0000${job.message}`;
          if (key !== shown) {
            shown = key;
            yield job;
          }
        }
        if (last !== undefined && !last.daemonShuttingDown && isFinished(last)) return;
      } catch (error) {
        if (!(error instanceof DaemonUnavailableError)) throw error;
        const pause = outage.lost();
        if (pause === undefined) throw error;
        await this.pause(pause, deadline, jobId, options);
        continue;
      }
      // The daemon said it is stopping (or the stream ended early): wait for it to come back.
      const pause = outage.lost();
      if (pause === undefined) throw daemonUnavailable(this.socketPath, "the daemon stopped during the wait");
      await this.pause(pause, deadline, jobId, options);
    }
  }

  /**
   * The daemon's job feed (WatchJobs) as an async iterator: without `sinceRevision` a listing
   * first (SNAPSHOT per job, then SNAPSHOT_END), then one event per committed change (APPEARED,
   * CHANGED, UNTRACKED), each with the store revision it brings you to. Resumes by itself from
   * the last revision delivered when the daemon restarts (ReconnectPolicy) or cuts a slow reader:
   * no change is lost or repeated. A SNAPSHOT after a SNAPSHOT_END starts a new listing (the
   * daemon's history no longer reached the revision): replace your view at its SNAPSHOT_END.
   * `signal`, or leaving the loop early, cancels the stream; the iteration never ends by itself.
   */
  async *watchJobs(
    filter: WatchJobsFilter = {},
    options: WatchJobsOptions = {},
  ): AsyncGenerator<WatchEvent, void, undefined> {
    const cursor = new FeedCursor(filter, options, this.reconnect);
    for (;;) {
      // A stream the daemon ends without a status: it is stopping (or gone).
      let lost: unknown = daemonUnavailable(this.socketPath, "the watch stream ended");
      try {
        const { jobs } = this.open();
        const stream = serverStream(
          (r, m, o) => jobs.watchJobs(r, m, o),
          cursor.request(),
          { signal: options.signal },
          this.translate,
        );
        for await (const message of stream) {
          const event = cursor.take(message);
          if (event !== undefined) yield event;
        }
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        lost = error;
      }
      await sleep(cursor.lost(lost), options.signal);
    }
  }

  /** Resolve with the job's final state (a FAILED job resolves too), over jobUpdates(): rides out a
   * daemon restart; `timeout` (ms) rejects with DeadlineError, `signal` with its reason. */
  async wait(jobId: string, options: CallOptions = {}): Promise<Job> {
    let last: Job | undefined;
    for await (const job of this.jobUpdates(jobId, options)) last = job;
    if (last === undefined) throw new InternalError(`the wait for ${jobId} ended without a state`);
    return last;
  }

  async submitLinkJob(job: SubmitLinkJobOptions, options: CallOptions = {}): Promise<Job> {
    const { jobs } = this.open();
    const request = {
      models: job.models.map((model) =>
        typeof model === "string" ? { path: isAbsolute(model) ? model : resolve(model) } : { modelId: model.modelId },
      ),
      device: job.device,
      name: job.name ?? "",
      options: job.options ?? "",
      projectId: job.projectId ?? "",
      requestId: job.requestId ?? randomUUID(),
    };
    return unary((r, m, o, cb) => jobs.submitLinkJob(r, m, o, cb), request, options, this.translate);
  }

  /** Rename the job on the Hub; resolves with the daemon's updated view. */
  async setName(jobId: string, name: string, options: CallOptions = {}): Promise<Job> {
    const { jobs } = this.open();
    return unary((r, m, o, cb) => jobs.setJobName(r, m, o, cb), { jobId, name }, options, this.translate);
  }

  /** Adopt a job submitted elsewhere (web UI, qai-hub): the daemon polls and caches it. */
  async trackJob(jobId: string, options: CallOptions = {}): Promise<Job> {
    const { jobs } = this.open();
    return unary((r, m, o, cb) => jobs.trackJob(r, m, o, cb), { jobId }, options, this.translate);
  }

  /** Forget a job (the Hub job is untouched); false when it was not tracked. */
  async untrackJob(jobId: string, options: CallOptions = {}): Promise<boolean> {
    const { jobs } = this.open();
    const reply = await unary<UntrackJobRequest, UntrackJobResponse>(
      (r, m, o, cb) => jobs.untrackJob(r, m, o, cb),
      { jobId },
      options,
      this.translate,
    );
    return reply.wasTracked;
  }

  /** One poll cycle in the daemon now; resolves when it is done. */
  async refreshJobs(options: CallOptions = {}): Promise<{ polled: number; changed: number }> {
    const { jobs } = this.open();
    return unary((r, m, o, cb) => jobs.refreshJobs(r, m, o, cb), {}, options, this.translate);
  }

  // ------------------------------------------------------------------ sharing (read from the Hub each time)

  async getSharing(jobId: string, options: CallOptions = {}): Promise<string[]> {
    const { jobs } = this.open();
    return (
      await unary<GetSharingRequest, Sharing>(
        (r, m, o, cb) => jobs.getSharing(r, m, o, cb),
        { jobId },
        options,
        this.translate,
      )
    ).emails;
  }

  async modifySharing(
    jobId: string,
    change: { add?: string[]; remove?: string[] },
    options: CallOptions = {},
  ): Promise<string[]> {
    const { jobs } = this.open();
    const request = { jobId, addEmails: change.add ?? [], deleteEmails: change.remove ?? [] };
    return (
      await unary<ModifySharingRequest, Sharing>(
        (r, m, o, cb) => jobs.modifySharing(r, m, o, cb),
        request,
        options,
        this.translate,
      )
    ).emails;
  }

  async disableSharing(jobId: string, options: CallOptions = {}): Promise<string[]> {
    const { jobs } = this.open();
    return (
      await unary<DisableSharingRequest, Sharing>(
        (r, m, o, cb) => jobs.disableSharing(r, m, o, cb),
        { jobId },
        options,
        this.translate,
      )
    ).emails;
  }

  // ------------------------------------------------------------------ results (each waits for the job to end)

  /** The artifact types available for download, once the job has ended. */
  async getAvailableArtifacts(jobId: string, options: CallOptions = {}): Promise<ArtifactType[]> {
    return (await this.wait(jobId, options)).availableArtifacts;
  }

  /** The target model's description, once the job has ended; null when it failed. */
  async getTargetModel(jobId: string, options: CallOptions = {}): Promise<TargetModel | null> {
    const { jobs } = this.open();
    const model = await unary<GetTargetModelRequest, TargetModel>(
      (r, m, o, cb) => jobs.getTargetModel(r, m, o, cb),
      { jobId },
      options,
      this.translate,
    );
    return model.present ? model : null;
  }

  /** Write the target model to `destination`: an existing directory gets `<dir>/<Hub filename>`
   * (uniquified if taken), otherwise it is a file path. Resolves with the path written, or null
   * when the job failed (no target model). */
  async downloadTargetModel(jobId: string, destination: string, options: CallOptions = {}): Promise<string | null> {
    const { jobs } = this.open();
    const request = { jobId, destination: resolve(destination) };
    const reply = await unary<DownloadTargetModelRequest, DownloadResponse>(
      (r, m, o, cb) => jobs.downloadTargetModel(r, m, o, cb),
      request,
      options,
      this.translate,
    );
    return reply.paths[0] ?? null;
  }

  /** Device log then Hub log into `outputDir` (created when missing); resolves with the paths. */
  async downloadJobLogs(jobId: string, outputDir: string, options: CallOptions = {}): Promise<string[]> {
    const { jobs } = this.open();
    const request = { jobId, outputDir: resolve(outputDir) };
    return (
      await unary<DownloadJobLogsRequest, DownloadResponse>(
        (r, m, o, cb) => jobs.downloadJobLogs(r, m, o, cb),
        request,
        options,
        this.translate,
      )
    ).paths;
  }

  /** Every artifact of one type into `outputDir`; [] when the type is not available. */
  async downloadArtifacts(
    jobId: string,
    artifactType: ArtifactType,
    outputDir: string,
    options: CallOptions = {},
  ): Promise<string[]> {
    const { jobs } = this.open();
    const request = { jobId, outputDir: resolve(outputDir), artifactType };
    return (
      await unary<DownloadArtifactsRequest, DownloadResponse>(
        (r, m, o, cb) => jobs.downloadArtifacts(r, m, o, cb),
        request,
        options,
        this.translate,
      )
    ).paths;
  }

  /** The target model as a Node Readable, once the job has ended (resolves when the first bytes
   * arrive); null when the job failed. Destroying the stream, or the signal, cancels the read. */
  async readTargetModel(jobId: string, options: CallOptions = {}): Promise<TargetModelStream | null> {
    const { jobs } = this.open();
    const chunks = serverStream(
      (r, m, o) => jobs.readTargetModel(r, m, o),
      { jobId },
      options,
      this.waitTranslate(jobId, "Reading the target model"),
    );
    const first = await chunks.next();
    if (first.done) return null;
    const head: Chunk = first.value;
    async function* bytes(): AsyncGenerator<Buffer> {
      try {
        yield head.data;
        for await (const chunk of chunks) yield chunk.data;
      } finally {
        await chunks.return();
      }
    }
    return Object.assign(Readable.from(bytes(), { objectMode: false }), {
      filename: head.filename,
      totalSize: head.totalSize,
    });
  }

  // ------------------------------------------------------------------ plumbing

  private open(): { jobs: LinkJobServiceClient; daemon: DaemonServiceClient } {
    if (this.closed) throw new AihubdError("this AihubdClient is closed");
    if (this.stubs === undefined) {
      if (!existsSync(this.socketPath)) throw daemonUnavailable(this.socketPath, "no socket file there");
      const interceptors = [identifying(this.clientId)];
      const jobs = new LinkJobServiceClient(`unix:${this.socketPath}`, credentials.createInsecure(), {
        ...this.channelOptions,
        interceptors,
      });
      const daemon = new DaemonServiceClient(`unix:${this.socketPath}`, credentials.createInsecure(), {
        ...this.channelOptions,
        channelOverride: jobs.getChannel(),
        interceptors,
      });
      this.stubs = { jobs, daemon };
    }
    return this.stubs;
  }

  private readonly translate = (error: ServiceError, timeout: number | undefined): Error => {
    if (error.code === status.DEADLINE_EXCEEDED && timeout !== undefined) {
      return new DeadlineError(`the call timed out after ${timeout} ms`, { cause: error });
    }
    if (error.code === status.UNAVAILABLE && !existsSync(this.socketPath)) {
      return daemonUnavailable(this.socketPath, "no socket file there", { cause: error });
    }
    return fromServiceError(error, this.socketPath);
  };

  private waitTranslate(jobId: string, doing = "Waiting for link job completion") {
    return (error: ServiceError, timeout: number | undefined): Error =>
      error.code === status.DEADLINE_EXCEEDED && timeout !== undefined
        ? new DeadlineError(`${doing} (${jobId}) timed out after ${timeout} ms`, { cause: error })
        : this.translate(error, timeout);
  }

  private async pause(ms: number, deadline: number | undefined, jobId: string, options: CallOptions): Promise<void> {
    if (deadline !== undefined && Date.now() + ms >= deadline) {
      await sleep(Math.max(deadline - Date.now(), 0), options.signal);
      throw new DeadlineError(`Waiting for link job completion (${jobId}) timed out after ${options.timeout} ms`);
    }
    await sleep(ms, options.signal);
  }
}
