/** The TypeScript client against a real daemon and emulator: jobs, cross-language submit/wait,
 * downloads, abort, timeouts, a daemon restart mid-wait. */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { AihubdClient, ArtifactType, DeadlineError, type Job, JobState, NotFoundError } from "../src/index.js";
import { DEVICE, python, Stack } from "./harness.js";

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

async function submit(name: string, models: string[] = stack.models): Promise<Job> {
  return client.submitLinkJob({ models, device: DEVICE, name });
}

const WAIT_FROM_PYTHON = `
import sys
from aihubd_client import Client
with Client(sys.argv[1]) as client:
    for status in client.get_job(sys.argv[2]).iter_status(timeout=60):
        print(status.code, flush=True)
`;

const SUBMIT_FROM_PYTHON = `
import sys
from aihubd_client import Client
with Client(sys.argv[1]) as client:
    print(client.submit_link_job(sys.argv[3:], device=sys.argv[2], name="from python").job_id, flush=True)
`;

test("daemonInfo and health describe the running daemon", async () => {
  const info = await client.daemonInfo();
  assert.equal(info.hubKind, "hub");
  assert.equal(info.hubReachable, true);
  assert.match(info.version, /^\d+\.\d+/);
  assert.equal(await client.health(), "SERVING");
  assert.equal(await client.health("aihubd.v1.LinkJobService"), "SERVING");
});

test("submit from Node, wait from Python", async () => {
  const job = await submit("from node");
  assert.equal(job.state, JobState.JOB_STATE_CREATED);
  const waiter = python(WAIT_FROM_PYTHON, [stack.daemon.socket, job.jobId], join(stack.dir, "py-wait.log"));
  assert.equal(await waiter.nextLine(), "CREATED"); // Python's wait stream is open
  await stack.finish(client, job.jobId);
  const rest: string[] = [];
  for await (const line of waiter.lines) rest.push(line);
  assert.deepEqual(rest, ["LINKING_MODELS", "SUCCESS"]);
  assert.equal(await waiter.exited, 0, waiter.readLog());
});

test("submit from Python, wait from Node", async () => {
  const submitter = python(
    SUBMIT_FROM_PYTHON,
    [stack.daemon.socket, DEVICE, ...stack.models],
    join(stack.dir, "py-submit.log"),
  );
  const jobId = await submitter.nextLine();
  assert.equal(await submitter.exited, 0, submitter.readLog());
  assert.equal((await client.getJob(jobId)).name, "from python");

  const updates = client.jobUpdates(jobId, { timeout: 60_000 });
  const first = await updates.next();
  assert.equal(first.done, false);
  assert.equal(first.value?.state, JobState.JOB_STATE_CREATED);
  const waited = client.wait(jobId, { timeout: 60_000 });
  await stack.finish(client, jobId);
  const rest: JobState[] = [];
  for await (const job of updates) rest.push(job.state);
  assert.deepEqual(rest, [JobState.JOB_STATE_LINKING_MODELS, JobState.JOB_STATE_DONE]);
  assert.equal((await waited).state, JobState.JOB_STATE_DONE);
});

test("listJobs filters by name and state; setName renames", async () => {
  const job = await submit("list-me-node");
  const found = await client.listJobs({ nameContains: "LIST-ME", states: [JobState.JOB_STATE_CREATED] });
  assert.deepEqual(
    found.jobs.map((j) => j.jobId),
    [job.jobId],
  );
  assert.equal(found.total, 1);
  assert.equal((await client.listJobs({ nameContains: "list-me", states: [JobState.JOB_STATE_DONE] })).total, 0);
  const renamed = await client.setName(job.jobId, "renamed from node");
  assert.equal(renamed.name, "renamed from node");
  assert.equal((await client.getJob(job.jobId)).name, "renamed from node");
});

const SECOND_USER_FROM_PYTHON = `
import sys
import qai_hub as hub
config = hub.ClientConfig(api_token=sys.argv[2], api_url=sys.argv[1], web_url=sys.argv[1] + "/", verbose=False)
print(hub.public_rest_api.get_auth_user(config).email, flush=True)  # the Hub now knows them
`;

test("sharing: add, read back, remove, disable", async () => {
  const other = python(
    SECOND_USER_FROM_PYTHON,
    [stack.emulator.baseUrl, "test-token-second-node-user"],
    join(stack.dir, "py-user.log"),
  );
  const email = await other.nextLine();
  assert.equal(await other.exited, 0, other.readLog());
  const job = await submit("shared");
  assert.deepEqual(await client.getSharing(job.jobId), []);
  assert.deepEqual(await client.modifySharing(job.jobId, { add: [email] }), [email]);
  assert.deepEqual(await client.getSharing(job.jobId), [email]);
  assert.deepEqual(await client.modifySharing(job.jobId, { remove: [email] }), []);
  await client.modifySharing(job.jobId, { add: [email] });
  assert.deepEqual(await client.disableSharing(job.jobId), []);
  assert.deepEqual(await client.getSharing(job.jobId), []);
  await assert.rejects(client.modifySharing(job.jobId, { add: ["nobody@example.com"] }), {
    name: "InvalidArgumentError",
    message: /Email not found: nobody@example.com/,
  });
});

test("downloads: target model to a directory, logs, artifacts, the model as a Readable", async () => {
  const job = await submit("downloaded");
  await stack.finish(client, job.jobId);
  const dir = join(stack.dir, "downloads");
  mkdirSync(dir);
  const model = await client.downloadTargetModel(job.jobId, dir);
  assert.ok(model !== null && model.startsWith(`${dir}/`) && existsSync(model), String(model));
  const stream = await client.readTargetModel(job.jobId);
  assert.ok(stream !== null);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  assert.ok(bytes.length > 0);
  assert.equal(stream.totalSize, bytes.length);
  assert.equal(join(dir, stream.filename), model);
  assert.deepEqual(bytes, readFileSync(model));

  const logs = await client.downloadJobLogs(job.jobId, join(stack.dir, "logs"));
  assert.deepEqual(
    logs.map((p) => p.slice(p.lastIndexOf("/") + 1)),
    [`${job.jobId}_device.log`, `${job.jobId}_hub.log`],
  );
  for (const path of logs) assert.ok(readFileSync(path).length > 0, path);
  const available = await client.getAvailableArtifacts(job.jobId);
  assert.ok(available.includes(ArtifactType.ARTIFACT_TYPE_DEVICE_LOG), String(available));
  assert.deepEqual(
    await client.downloadArtifacts(job.jobId, ArtifactType.ARTIFACT_TYPE_PROFILE_TRACE, join(stack.dir, "none")),
    [],
  );
  const described = await client.getTargetModel(job.jobId);
  assert.equal(described?.filename, stream.filename);
});

test("a failed job: final state FAILED, no target model", async () => {
  const job = await submit("broken", stack.brokenModels);
  await stack.finish(client, job.jobId);
  const final = await client.wait(job.jobId);
  assert.equal(final.state, JobState.JOB_STATE_FAILED);
  assert.notEqual(final.message, "");
  assert.equal(await client.downloadTargetModel(job.jobId, join(stack.dir, "failed.bin")), null);
  assert.equal(await client.readTargetModel(job.jobId), null);
  assert.equal(await client.getTargetModel(job.jobId), null);
});

test("abort: wait, a blocking download and the model read reject with the signal's reason; the job goes on", async () => {
  const job = await submit("aborted");
  const controller = new AbortController();
  const waiting = client.wait(job.jobId, { signal: controller.signal });
  const downloading = client.downloadTargetModel(job.jobId, join(stack.dir, "aborted.bin"), {
    signal: controller.signal,
  });
  const reading = client.readTargetModel(job.jobId, { signal: controller.signal });
  controller.abort();
  await Promise.all([waiting, downloading, reading].map((call) => assert.rejects(call, { name: "AbortError" })));

  const reason = new Error("closed by the user");
  const custom = new AbortController();
  custom.abort(reason);
  await assert.rejects(client.getJob(job.jobId, { signal: custom.signal }), (error) => error === reason);

  assert.equal((await client.getJob(job.jobId)).state, JobState.JOB_STATE_CREATED);
  await stack.finish(client, job.jobId);
  assert.equal((await client.wait(job.jobId)).state, JobState.JOB_STATE_DONE);
  assert.ok(!existsSync(join(stack.dir, "aborted.bin")));
});

test("abort mid-stream: a destroyed model stream and an early loop exit cancel only the call", async () => {
  const job = await submit("read then stop");
  await stack.finish(client, job.jobId);
  const stream = await client.readTargetModel(job.jobId);
  assert.ok(stream !== null);
  stream.destroy();
  for await (const update of client.jobUpdates(job.jobId)) {
    assert.equal(update.state, JobState.JOB_STATE_DONE);
    break;
  }
  assert.equal((await client.getJob(job.jobId)).state, JobState.JOB_STATE_DONE);
});

test("timeout: wait rejects with a DeadlineError named TimeoutError naming the job", async () => {
  const job = await submit("slow");
  await assert.rejects(client.wait(job.jobId, { timeout: 50 }), (error: unknown) => {
    assert.ok(error instanceof DeadlineError);
    assert.equal(error.name, "TimeoutError");
    assert.match(error.message, new RegExp(job.jobId));
    return true;
  });
});

test("unknown job: NotFoundError", async () => {
  await assert.rejects(client.getJob("jnosuchjob0"), NotFoundError);
  await assert.rejects(client.wait("jnosuchjob0"), NotFoundError);
});

test("wait rides out a daemon restart (same socket and store)", async () => {
  const job = await submit("across a restart");
  const updates = client.jobUpdates(job.jobId, { timeout: 120_000 });
  assert.equal((await updates.next()).value?.state, JobState.JOB_STATE_CREATED);
  assert.equal(await stack.daemon.stop(), 0);
  const rest = (async () => {
    const states: JobState[] = [];
    for await (const update of updates) states.push(update.state);
    return states;
  })();
  stack.daemon = await stack.daemon.restart();
  // A client of its own (grpc-js shares subchannels between clients): `client`'s connection may
  // still be in its reconnect backoff (at most 1 s) and fail calls fast until then.
  const fresh = new AihubdClient({
    socketPath: stack.daemon.socket,
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
  try {
    await stack.finish(fresh, job.jobId);
  } finally {
    fresh.close();
  }
  // CREATED is not repeated after the reconnect; LINKING_MODELS is seen only if the new stream was
  // up before the job moved on (the stream gives the current state, then changes).
  const seen = await rest;
  assert.equal(seen.at(-1), JobState.JOB_STATE_DONE);
  assert.ok(
    [[JobState.JOB_STATE_DONE], [JobState.JOB_STATE_LINKING_MODELS, JobState.JOB_STATE_DONE]].some(
      (expected) => JSON.stringify(expected) === JSON.stringify(seen),
    ),
    String(seen),
  );
});
