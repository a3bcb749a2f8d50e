/** Each AihubdClient sends its own random id (aihubd-client-id metadata), so on the one Unix
 * socket the daemon's per-client stream cap (--max-streams) counts each client alone: client A
 * holding the cap does not stop client B opening a stream. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { type AihubdClient, ResourceExhaustedError } from "../src/index.js";
import { DEVICE, Stack } from "./harness.js";

const CAP = 2;
const CALL_TIMEOUT_MS = 60_000;

let stack: Stack;
let a: AihubdClient;
let b: AihubdClient;

before(async () => {
  stack = await Stack.start(["--max-streams", String(CAP)]);
  a = stack.client();
  b = stack.client();
});

after(async () => {
  a?.close();
  b?.close();
  await stack?.stop();
});

test("each client has its own well-formed id", () => {
  assert.match(a.clientId, /^[0-9a-f]{32}$/);
  assert.notEqual(a.clientId, b.clientId);
});

test("one client at the stream cap does not stop another client's stream", async () => {
  const job = await a.submitLinkJob({ models: [stack.models[0]], device: DEVICE }, { timeout: CALL_TIMEOUT_MS });
  const abort = new AbortController();
  const open = (client: AihubdClient) => {
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
    return client.watchJobs({ jobIds: [job.jobId] }, { signal });
  };
  const watches = [];
  try {
    for (let i = 0; i < CAP; i += 1) {
      const watch = open(a);
      watches.push(watch);
      assert.equal((await watch.next()).value?.kind, "SNAPSHOT"); // open: its listing arrived
    }
    const over = open(a);
    watches.push(over);
    const refused = await over.next().then(
      () => assert.fail("client A's stream past the cap was opened"),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ResourceExhaustedError, String(refused));
    const theirs = open(b);
    watches.push(theirs);
    assert.equal((await theirs.next()).value?.kind, "SNAPSHOT"); // B's own cap: it gets a stream
    assert.match(refused.message, new RegExp(`client ${a.clientId} hold ${CAP}`));
  } finally {
    abort.abort();
    await Promise.allSettled(watches.map((watch) => watch.return(undefined)));
  }
});
