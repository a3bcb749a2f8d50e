/** watchJobs against a real daemon and emulator: a job submitted from Python appears in the Node
 * watch; a daemon restart mid-watch delivers each revision once; an AbortSignal ends the iterator;
 * a compacted revision lists again (or throws with relist: false). And FeedCursor's resume rules. */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";

import {
  AihubdClient,
  DaemonUnavailableError,
  fromServiceError,
  type Job,
  JobState,
  RevisionCompactedError,
  RevisionUnknownError,
  type WatchEvent,
  WatchTooSlowError,
} from "../src/index.js";
import { ErrorInfo } from "../src/gen/google/rpc/error_details.js";
import { JobEventKind } from "../src/gen/aihubd/v1/aihubd.js";
import { Status } from "../src/gen/google/rpc/status.js";
import { FeedCursor } from "../src/watch.js";
import { DEVICE, python, Stack, watchStreamsReach } from "./harness.js";

const HISTORY = 6; // --feed-history: small, so that the compaction test reaches past it
const EVENT_TIMEOUT_MS = 60_000;

let stack: Stack;
let client: AihubdClient;

before(async () => {
  stack = await Stack.start(["--feed-history", String(HISTORY)]);
  client = stack.client();
});

after(async () => {
  client?.close();
  await stack?.stop();
});

/** Reads a watch in the background; waitFor() resolves at the first event (from `from` on) that matches. */
class Collector {
  readonly events: WatchEvent[] = [];
  /** Resolves when the iteration ends: undefined, or the error it ended with. */
  readonly done: Promise<unknown>;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(iterator: AsyncIterable<WatchEvent>) {
    this.done = (async () => {
      try {
        for await (const event of iterator) {
          this.events.push(event);
          this.wake?.();
        }
        return undefined;
      } catch (error) {
        return error;
      } finally {
        this.ended = true;
        this.wake?.();
      }
    })();
  }

  async waitFor(predicate: (event: WatchEvent) => boolean, from = 0): Promise<number> {
    const timeout = AbortSignal.timeout(EVENT_TIMEOUT_MS);
    for (;;) {
      const index = this.events.findIndex((event, i) => i >= from && predicate(event));
      if (index >= 0) return index;
      if (this.ended) throw new Error(`the watch ended (${String(await this.done)}): ${this.kinds().join(" ")}`);
      if (timeout.aborted) throw new Error(`no such event in ${this.kinds().join(" ")}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timeout.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  kinds(): string[] {
    return this.events.map((e) => `${e.kind}@${e.revision}${e.job ? ":" + e.job.name : ""}`);
  }
}

async function submit(name: string): Promise<Job> {
  return client.submitLinkJob({ models: stack.models, device: DEVICE, name });
}

const SUBMIT_FROM_PYTHON = `
import sys
from aihubd_client import Client
with Client(sys.argv[1]) as client:
    print(client.submit_link_job(sys.argv[3:], device=sys.argv[2], name="watched from node").job_id, flush=True)
`;

test("a job submitted from Python appears in the Node watch, then its changes", async () => {
  const before = await submit("listed before");
  const controller = new AbortController();
  const watch = new Collector(client.watchJobs({}, { signal: controller.signal }));
  const end = await watch.waitFor((e) => e.kind === "SNAPSHOT_END");
  const listed = watch.events.slice(0, end);
  assert.ok(listed.every((e) => e.kind === "SNAPSHOT" && e.revision === watch.events[end]?.revision));
  assert.ok(listed.some((e) => e.job?.jobId === before.jobId));

  const submitter = python(
    SUBMIT_FROM_PYTHON,
    [stack.daemon.socket, DEVICE, ...stack.models],
    join(stack.dir, "py.log"),
  );
  const jobId = await submitter.nextLine();
  assert.equal(await submitter.exited, 0, submitter.readLog());
  const appeared = await watch.waitFor((e) => e.kind === "APPEARED" && e.job?.jobId === jobId, end);
  const event = watch.events[appeared];
  assert.equal(event?.job?.name, "watched from node");
  assert.equal(event?.job?.state, JobState.JOB_STATE_CREATED);
  assert.ok((event?.revision ?? 0) > (watch.events[end]?.revision ?? Infinity));

  await stack.finish(client, jobId);
  const done = await watch.waitFor((e) => e.job?.jobId === jobId && e.job.state === JobState.JOB_STATE_DONE, end);
  assert.equal(watch.events[done]?.kind, "CHANGED");
  assert.ok(watch.events[done]?.changed.includes("state"));
  controller.abort();
  assert.equal(((await watch.done) as Error).name, "AbortError");
});

test("a daemon restart mid-watch: every revision once, in order, with one listing", async () => {
  const job = await submit("renamed across a restart");
  const controller = new AbortController();
  const watch = new Collector(client.watchJobs({}, { signal: controller.signal }));
  const end = await watch.waitFor((e) => e.kind === "SNAPSHOT_END");
  for (const name of ["r1", "r2"]) await client.setName(job.jobId, name);
  await watch.waitFor((e) => e.job?.name === "r2", end);

  assert.equal(await stack.daemon.stop(), 0);
  stack.daemon = await stack.daemon.restart();
  // A client of its own (grpc-js shares subchannels between clients): `client`'s connection may
  // still be in its reconnect backoff and fail calls fast until then.
  const fresh = new AihubdClient({
    socketPath: stack.daemon.socket,
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
  try {
    for (const name of ["r3", "r4", "r5"]) await fresh.setName(job.jobId, name);
  } finally {
    fresh.close();
  }
  await watch.waitFor((e) => e.job?.name === "r5", end);

  const after = watch.events.slice(end + 1);
  // The renames, each once and in order (the poller may add state changes between them).
  assert.deepEqual(
    after.filter((e) => e.changed.includes("name")).map((e) => e.job?.name),
    ["r1", "r2", "r3", "r4", "r5"],
    watch.kinds().join(" "),
  );
  const first = watch.events[end]?.revision ?? 0;
  assert.deepEqual(
    after.map((e) => e.revision),
    after.map((_e, i) => first + 1 + i),
  ); // consecutive: none lost, none twice
  assert.equal(watch.events.filter((e) => e.kind === "SNAPSHOT_END").length, 1);
  controller.abort();
  assert.equal(((await watch.done) as Error).name, "AbortError");
});

test("abort: the pending next() rejects with the signal's reason, the iterator is finished, the daemon's stream is gone", async () => {
  await watchStreamsReach(client, 0); // the earlier tests' streams are closed
  const controller = new AbortController();
  const watch = client.watchJobs({ nameContains: "no job has this name" }, { signal: controller.signal });
  assert.equal((await watch.next()).value?.kind, "SNAPSHOT_END");
  assert.equal((await client.daemonInfo()).watchStreams, 1);
  const pending = watch.next(); // nothing will come: only the abort ends it
  controller.abort(new Error("panel closed"));
  await assert.rejects(pending, { message: "panel closed" });
  assert.deepEqual(await watch.next(), { done: true, value: undefined });
  await watchStreamsReach(client, 0); // the cancel reached the daemon

  const left = client.watchJobs({});
  assert.equal((await left.next()).done, false);
  await left.return(); // leaving the loop early cancels too
  await watchStreamsReach(client, 0);

  const early = client.watchJobs({}, { signal: AbortSignal.abort(new Error("already")) });
  await assert.rejects(early.next(), { message: "already" });
  // The daemon goes on serving watches.
  const again = client.watchJobs({ nameContains: "no job has this name" });
  assert.equal((await again.next()).value?.kind, "SNAPSHOT_END");
  await again.return();
});

test("a compacted revision lists again; relist: false throws RevisionCompactedError", async () => {
  const job = await submit("compacted");
  const first = client.watchJobs({ jobIds: [job.jobId] });
  let mark = await first.next();
  while (mark.value?.kind !== "SNAPSHOT_END") mark = await first.next();
  await first.return();
  const since = mark.value.revision;
  const storeId = mark.value.storeId;
  for (let i = 0; i < HISTORY + 2; i += 1) await client.setName(job.jobId, `compacted ${i}`);

  await assert.rejects(
    client.watchJobs({}, { sinceRevision: since, storeId, relist: false }).next(),
    (error: unknown) =>
      error instanceof RevisionCompactedError &&
      error.reason === "REVISION_COMPACTED" &&
      error.code === status.OUT_OF_RANGE &&
      (error.compactedRevision ?? 0) > since &&
      (error.currentRevision ?? 0) >= since + HISTORY + 2,
  );

  const relisted = client.watchJobs({ jobIds: [job.jobId] }, { sinceRevision: since, storeId });
  const listing: WatchEvent[] = [];
  for (;;) {
    const next = await relisted.next();
    assert.equal(next.done, false);
    if (next.value === undefined) break;
    listing.push(next.value);
    if (next.value.kind === "SNAPSHOT_END") break;
  }
  await relisted.return();
  assert.deepEqual(
    listing.map((e) => [e.kind, e.job?.name]),
    [
      ["SNAPSHOT", `compacted ${HISTORY + 1}`],
      ["SNAPSHOT_END", undefined],
    ],
  );
  assert.ok((listing[1]?.revision ?? 0) >= since + HISTORY + 2);

  await assert.rejects(
    client.watchJobs({}, { sinceRevision: since + 1_000_000, relist: false }).next(),
    RevisionUnknownError,
  );
});

const PANEL = fileURLToPath(new URL("../examples/jobs-panel.js", import.meta.url));

test("examples/jobs-panel.js shows a job submitted from Python, then its state changes", async () => {
  const panel = spawn(process.execPath, [PANEL, "--socket", stack.daemon.socket, "--name", "for the panel"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = once(panel, "exit");
  let stderr = "";
  panel.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const lines = createInterface({ input: panel.stdout })[Symbol.asyncIterator]();
  const timeout = AbortSignal.timeout(EVENT_TIMEOUT_MS);
  const seen: string[] = [];
  async function lineMatching(pattern: RegExp): Promise<string> {
    for (;;) {
      const next = await Promise.race([lines.next(), once(timeout, "abort").then(() => ({ done: true, value: "" }))]);
      if (next.done) throw new Error(`no line matching ${pattern}; got:\n${seen.join("\n")}\nstderr: ${stderr}`);
      seen.push(next.value);
      if (pattern.test(next.value)) return next.value;
    }
  }
  try {
    assert.match(await lineMatching(/^--- /), /^--- 0 job\(s\) at revision \d+$/); // the listing: none yet
    const code = SUBMIT_FROM_PYTHON.replace("watched from node", "for the panel");
    const submitter = python(code, [stack.daemon.socket, DEVICE, ...stack.models], join(stack.dir, "py-panel.log"));
    const jobId = await submitter.nextLine();
    assert.equal(await submitter.exited, 0, submitter.readLog());
    assert.match(await lineMatching(/^--- /), /^--- 1 job\(s\)/);
    assert.equal(await lineMatching(new RegExp(jobId)), `${jobId}\tCREATED\tfor the panel`);
    await stack.finish(client, jobId);
    assert.equal(await lineMatching(new RegExp(`${jobId}\t(DONE|FAILED)`)), `${jobId}\tDONE\tfor the panel`);
  } finally {
    panel.kill("SIGINT");
  }
  assert.deepEqual(await exited, [0, null], stderr); // Ctrl-C ends it cleanly
});

describe("FeedCursor (no daemon)", () => {
  const event = (kind: JobEventKind, revision: number) => ({
    kind,
    revision,
    job: kind === JobEventKind.JOB_EVENT_KIND_SNAPSHOT_END ? undefined : ({ jobId: "j1" } as Job),
    changed: [],
    storeId: "s1",
  });
  const daemonError = (code: status, reason: string): Error => {
    const info = {
      typeUrl: "type.googleapis.com/google.rpc.ErrorInfo",
      value: Buffer.from(ErrorInfo.encode({ reason, domain: "aihubd", metadata: { resume_revision: "7" } }).finish()),
    };
    const metadata = new Metadata();
    metadata.set(
      "grpc-status-details-bin",
      Buffer.from(Status.encode({ code, message: reason, details: [info] }).finish()),
    );
    return fromServiceError(
      Object.assign(new Error(reason), { code, details: reason, metadata }) as ServiceError,
      "/s",
    );
  };

  test("resumes after SNAPSHOT_END and changes, never from inside a listing", () => {
    const cursor = new FeedCursor({}, {}, {});
    assert.equal(cursor.request().sinceRevision, undefined);
    cursor.take(event(JobEventKind.JOB_EVENT_KIND_SNAPSHOT, 5));
    assert.equal(cursor.request().sinceRevision, undefined); // broke inside the listing: list again
    cursor.take(event(JobEventKind.JOB_EVENT_KIND_SNAPSHOT_END, 5));
    assert.deepEqual([cursor.request().sinceRevision, cursor.request().storeId], [5, "s1"]);
    assert.equal(cursor.take(event(JobEventKind.JOB_EVENT_KIND_BOOKMARK, 9)), undefined); // not asked for
    assert.equal(cursor.request().sinceRevision, 9); // but resumable from
  });

  test("WATCH_TOO_SLOW resumes at once from the cursor; a lost daemon waits; others throw", () => {
    const cursor = new FeedCursor({}, { sinceRevision: 3, storeId: "s1" }, { window: 60_000 });
    const slow = daemonError(status.RESOURCE_EXHAUSTED, "WATCH_TOO_SLOW");
    assert.ok(slow instanceof WatchTooSlowError);
    assert.equal(slow.resumeRevision, 7);
    assert.throws(() => cursor.lost(new DaemonUnavailableError("gone", "/s"))); // never connected: not running
    cursor.take(event(JobEventKind.JOB_EVENT_KIND_CHANGED, 4));
    assert.equal(cursor.lost(slow), 0);
    assert.equal(cursor.request().sinceRevision, 4);
    assert.ok(cursor.lost(new DaemonUnavailableError("gone", "/s")) > 0);
    const unknown = daemonError(status.OUT_OF_RANGE, "REVISION_UNKNOWN");
    assert.throws(() => new FeedCursor({}, { relist: false }, {}).lost(unknown), RevisionUnknownError);
    assert.equal(cursor.lost(unknown), 0);
    assert.equal(cursor.request().sinceRevision, undefined); // relist
    assert.throws(() => cursor.lost(daemonError(status.INVALID_ARGUMENT, "INVALID_ARGUMENT")));
    assert.throws(() => new FeedCursor({}, { sinceRevision: -1 }, {}), /sinceRevision -1/);
  });
});
