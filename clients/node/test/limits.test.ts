/** Stream limits: 2,000 watchJobs streams and 1,000 unary calls opened at once by one Node client
 * each get an answer or a clear RESOURCE_EXHAUSTED; the daemon stays healthy, and goes on
 * delivering changes to a watch opened after them. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { type AihubdClient, JobState, ResourceExhaustedError } from "../src/index.js";
import { DEVICE, Stack, watchStreamsReach } from "./harness.js";

const STREAMS = 2_000;
const UNARY = 1_000;
const CALL_TIMEOUT_MS = 60_000; // a call the daemon never answers fails the test (DeadlineError), never hangs it

let stack: Stack;
let client: AihubdClient;

before(async () => {
  stack = await Stack.start();
  client = stack.client();
});

after(async () => {
  client?.close();
  await stack?.stop();
});

type Outcome = "answered" | "exhausted";
const exhaustedMessages: string[] = [];

async function firstEvent(jobId: string, signal: AbortSignal): Promise<Outcome> {
  try {
    // A watch never ends by itself: the deadline bounds only the wait for its first event.
    const listed = AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
    const events = client.watchJobs({ jobIds: [jobId] }, { signal: listed });
    const first = await events.next(); // the stream stays open: nobody reads on until the abort
    assert.equal(first.value?.kind, "SNAPSHOT");
    assert.equal(first.value?.job?.state, JobState.JOB_STATE_CREATED);
    void events.next().catch(() => undefined); // ends with the abort
    return "answered";
  } catch (error) {
    if (error instanceof ResourceExhaustedError) {
      exhaustedMessages.push(error.message);
      return "exhausted";
    }
    throw error; // anything else (CANCELLED, UNAVAILABLE, INTERNAL) fails the test
  }
}

async function unaryCall(jobId: string): Promise<Outcome> {
  try {
    assert.equal((await client.getJob(jobId, { timeout: CALL_TIMEOUT_MS })).jobId, jobId);
    return "answered";
  } catch (error) {
    if (error instanceof ResourceExhaustedError) {
      exhaustedMessages.push(error.message);
      return "exhausted";
    }
    throw error; // anything else (CANCELLED, UNAVAILABLE, INTERNAL) fails the test
  }
}

/** The revision of a fresh listing of one job (its SNAPSHOT_END). */
async function firstRevision(jobId: string): Promise<number | undefined> {
  for await (const event of client.watchJobs({ jobIds: [jobId] }, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })) {
    if (event.kind === "SNAPSHOT_END") return event.revision;
  }
  return undefined;
}

test(`${STREAMS} watchJobs streams and ${UNARY} unary calls at once`, async () => {
  const job = await client.submitLinkJob({ models: stack.models, device: DEVICE, name: "watched by many" });
  const controller = new AbortController();
  const outcomes = await Promise.all([
    ...Array.from({ length: STREAMS }, () => firstEvent(job.jobId, controller.signal)),
    ...Array.from({ length: UNARY }, () => unaryCall(job.jobId)),
  ]);
  const count = (what: Outcome): number => outcomes.filter((o) => o === what).length;
  assert.equal(count("answered") + count("exhausted"), STREAMS + UNARY);
  assert.ok(count("answered") > 0);
  for (const message of exhaustedMessages) assert.ok(message.length > 0, "RESOURCE_EXHAUSTED without a message");
  console.log(`# answered ${count("answered")}, RESOURCE_EXHAUSTED ${count("exhausted")}`);

  // While all the streams are open, the daemon still serves, and once they are cancelled too.
  assert.equal(await client.health(), "SERVING");
  assert.equal((await client.getJob(job.jobId)).state, JobState.JOB_STATE_CREATED);
  const watching = outcomes.slice(0, STREAMS).filter((o) => o === "answered").length;
  assert.equal((await client.daemonInfo()).watchStreams, watching); // each answered stream is open on the daemon
  controller.abort();
  await watchStreamsReach(client, 0, CALL_TIMEOUT_MS); // every cancel reached the daemon: nothing leaks
  const watch = client.watchJobs({ jobIds: [job.jobId] }, { sinceRevision: (await firstRevision(job.jobId)) ?? 0 });
  await stack.finish(client, job.jobId);
  const states: JobState[] = [];
  for await (const event of watch) {
    if (event.job !== undefined) states.push(event.job.state);
    if (event.job?.state === JobState.JOB_STATE_DONE) break;
  }
  assert.deepEqual(states, [JobState.JOB_STATE_LINKING_MODELS, JobState.JOB_STATE_DONE]);
  assert.equal((await client.wait(job.jobId, { timeout: 60_000 })).state, JobState.JOB_STATE_DONE);
  assert.equal((await client.daemonInfo()).hubReachable, true);
});
