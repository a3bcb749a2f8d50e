/**
 * watchJobs' bookkeeping (the Python client's FeedCursor, aihubd_client/feed.py): the revision to
 * resume after, and what to do when a stream is lost. No I/O here.
 *
 * Resume from the revision of the last event received, SNAPSHOT_END and BOOKMARK included, but not
 * from a SNAPSHOT item: a stream that broke inside a listing lists again. REVISION_COMPACTED and
 * REVISION_UNKNOWN list again when `relist` (else they are thrown); WATCH_TOO_SLOW resumes at once;
 * a daemon that went away is waited for (ReconnectPolicy), then resumed from.
 */

import { DaemonUnavailableError, InvalidArgumentError, RevisionOutOfRangeError, WatchTooSlowError } from "./errors.js";
import { type Job, type JobEvent, JobEventKind, type JobState, type WatchJobsRequest } from "./gen/aihubd/v1/aihubd.js";
import { Reconnect, type ReconnectPolicy } from "./reconnect.js";

/** Which jobs to watch; every part optional, combined with AND. */
export interface WatchJobsFilter {
  /** Only these jobs (empty or absent: every job). */
  jobIds?: string[];
  /** Only jobs in these states (empty or absent: any). */
  states?: JobState[];
  /** Only jobs whose name contains this, case-insensitively. */
  nameContains?: string;
}

export interface WatchJobsOptions {
  /** Aborting ends the iteration (it rejects with `signal.reason`) and cancels the stream. */
  signal?: AbortSignal;
  /** Start after this revision (a `revision` you received) instead of with a listing. */
  sinceRevision?: number;
  /** The `storeId` that `sinceRevision` came with: a replaced store is then noticed (and listed again). */
  storeId?: string;
  /** When the daemon cannot resume from the revision: list again (default true), else throw
   * RevisionCompactedError / RevisionUnknownError. */
  relist?: boolean;
  /** Also yield the daemon's BOOKMARK events (default false). */
  bookmarks?: boolean;
}

/** A job's event: a listing item or a change. `job` is its view after the change (UNTRACKED: its last one). */
export interface JobChangeEvent {
  kind: "SNAPSHOT" | "APPEARED" | "CHANGED" | "UNTRACKED";
  /** The store revision this event brings the watcher to (a SNAPSHOT item: the listing's). */
  revision: number;
  job: Job;
  /** CHANGED: the fields that changed, e.g. "state", "name", "sharing", "available_artifacts". */
  changed: string[];
  /** The store the revision counts in: keep it with the revision to resume later. */
  storeId: string;
}

/** SNAPSHOT_END (the listing is complete; replace your view now) or BOOKMARK (nothing to report up to `revision`). */
export interface FeedMarkEvent {
  kind: "SNAPSHOT_END" | "BOOKMARK";
  revision: number;
  job?: undefined;
  changed: string[];
  storeId: string;
}

export type WatchEvent = JobChangeEvent | FeedMarkEvent;

const JOB_KINDS: ReadonlyMap<JobEventKind, JobChangeEvent["kind"]> = new Map([
  [JobEventKind.JOB_EVENT_KIND_SNAPSHOT, "SNAPSHOT"],
  [JobEventKind.JOB_EVENT_KIND_APPEARED, "APPEARED"],
  [JobEventKind.JOB_EVENT_KIND_CHANGED, "CHANGED"],
  [JobEventKind.JOB_EVENT_KIND_UNTRACKED, "UNTRACKED"],
]);
const MARK_KINDS: ReadonlyMap<JobEventKind, FeedMarkEvent["kind"]> = new Map([
  [JobEventKind.JOB_EVENT_KIND_SNAPSHOT_END, "SNAPSHOT_END"],
  [JobEventKind.JOB_EVENT_KIND_BOOKMARK, "BOOKMARK"],
]);

/** Where a watch is: the revision to resume after, and what to do when its stream is lost. */
export class FeedCursor {
  revision: number | undefined;
  storeId: string;
  private readonly outage: Reconnect;
  private readonly relist: boolean;
  private readonly bookmarks: boolean;

  constructor(
    private readonly filter: WatchJobsFilter,
    options: WatchJobsOptions,
    reconnect: Partial<ReconnectPolicy>,
  ) {
    const since = options.sinceRevision;
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      throw new InvalidArgumentError(`sinceRevision ${since} is not a revision (a non-negative integer)`);
    }
    this.revision = since;
    this.storeId = options.storeId ?? "";
    this.relist = options.relist ?? true;
    this.bookmarks = options.bookmarks ?? false;
    this.outage = new Reconnect(reconnect);
  }

  request(): WatchJobsRequest {
    const request: WatchJobsRequest = {
      jobIds: this.filter.jobIds ?? [],
      states: this.filter.states ?? [],
      nameContains: this.filter.nameContains ?? "",
      storeId: "",
    };
    if (this.revision !== undefined) {
      request.sinceRevision = this.revision;
      request.storeId = this.storeId;
    }
    return request;
  }

  /** Note a received event; returns the event to yield, or undefined (a BOOKMARK nobody asked
   * for, or a kind this client does not know: its revision still counts). */
  take(message: JobEvent): WatchEvent | undefined {
    this.outage.connected();
    if (message.kind !== JobEventKind.JOB_EVENT_KIND_SNAPSHOT) {
      // Inside a listing nothing is resumable until its end.
      this.revision = message.revision;
      this.storeId = message.storeId;
    }
    const base = { revision: message.revision, changed: message.changed, storeId: message.storeId };
    const jobKind = JOB_KINDS.get(message.kind);
    if (jobKind !== undefined && message.job !== undefined) return { ...base, kind: jobKind, job: message.job };
    const markKind = MARK_KINDS.get(message.kind);
    if (markKind === "SNAPSHOT_END" || (markKind === "BOOKMARK" && this.bookmarks)) return { ...base, kind: markKind };
    return undefined;
  }

  /** The stream ended with `error`: ms to pause before resuming, or throw it when the watch cannot go on. */
  lost(error: unknown): number {
    if (error instanceof RevisionOutOfRangeError) {
      if (!this.relist) throw error;
      this.revision = undefined;
      this.storeId = "";
      return 0;
    }
    if (error instanceof WatchTooSlowError) return 0; // the daemon cut a slow reader: resume at once
    if (!(error instanceof DaemonUnavailableError)) throw error;
    const pause = this.outage.lost();
    if (pause === undefined) throw error;
    return pause;
  }
}
