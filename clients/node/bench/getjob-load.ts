/**
 * `make bench` load generator (tools/bench/scenario_node.py): `concurrency` callers calling
 * AihubdClient.getJob back to back on one client for `warmup` + `duration` seconds; prints one
 * JSON line with the calls, errors and latencies (µs) of the measured part. The same code runs
 * against the daemon and against the bench's trivial grpc.aio echo (tools/bench/echo.py).
 *
 *   node dist/bench/getjob-load.js --socket PATH --job ID --concurrency 16 --duration 2 --warmup 0.2
 */

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { AihubdClient } from "../src/index.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    job: { type: "string" },
    concurrency: { type: "string", default: "1" },
    duration: { type: "string", default: "2" },
    warmup: { type: "string", default: "0.2" },
  },
});
if (values.socket === undefined || values.job === undefined) {
  console.error("usage: getjob-load --socket PATH --job ID [--concurrency N] [--duration S] [--warmup S]");
  process.exit(2);
}
const jobId = values.job;
const concurrency = Number(values.concurrency);
const client = new AihubdClient({ socketPath: values.socket });
await client.getJob(jobId); // connected before the clock starts

const measureFrom = performance.now() + Number(values.warmup) * 1000;
const end = measureFrom + Number(values.duration) * 1000;
const latencies: number[] = [];
let errors = 0;
const errorSamples: string[] = [];

async function caller(): Promise<void> {
  for (let now = performance.now(); now < end; now = performance.now()) {
    try {
      await client.getJob(jobId);
      const done = performance.now();
      if (now >= measureFrom && done <= end) latencies.push(Math.round((done - now) * 1000));
    } catch (error) {
      errors += 1;
      if (errorSamples.length < 3) errorSamples.push(String(error));
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, caller));
client.close();
console.log(
  JSON.stringify({
    calls: latencies.length,
    seconds: Number(values.duration),
    errors,
    error_samples: errorSamples,
    lat_us: latencies,
  }),
);
