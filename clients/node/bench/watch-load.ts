/**
 * `make bench` watcher fleet (tools/bench/scenario_watchers.py): `watchers` watchJobs streams on one
 * AihubdClient. Prints "ready" once every stream has its listing, then records when each watcher
 * receives each rename `<prefix><i>` (epoch ms); once every watcher has all `changes` of them (or
 * `timeout` s passed) prints one JSON line: {"arrivals": [[ms | null, ...] per watcher], "dupes": n}.
 * tools/bench/watch_load.py is the same fleet in Python.
 *
 *   node dist/bench/watch-load.js --socket PATH --watchers 100 --changes 1000 --prefix "bench-watch #"
 */

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { AihubdClient } from "../src/index.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    watchers: { type: "string", default: "100" },
    changes: { type: "string", default: "100" },
    prefix: { type: "string", default: "bench-watch #" },
    timeout: { type: "string", default: "300" },
  },
});
if (values.socket === undefined) {
  console.error("usage: watch-load --socket PATH [--watchers N] [--changes N] [--prefix TEXT] [--timeout S]");
  process.exit(2);
}
const watchers = Number(values.watchers);
const changes = Number(values.changes);
const prefix = values.prefix;
const client = new AihubdClient({ socketPath: values.socket });
const stop = AbortSignal.timeout(Number(values.timeout) * 1000);
const arrivals: (number | null)[][] = Array.from({ length: watchers }, () =>
  new Array<number | null>(changes).fill(null),
);
let dupes = 0;
let listed = 0;
let announce: () => void = () => undefined;
const allListed = new Promise<void>((resolve) => (announce = resolve));

async function watch(index: number): Promise<void> {
  const mine = arrivals[index] as (number | null)[];
  let seen = 0;
  try {
    for await (const event of client.watchJobs({}, { signal: stop })) {
      if (event.kind === "SNAPSHOT_END") {
        listed += 1;
        if (listed === watchers) announce();
        continue;
      }
      const name = event.job?.name ?? "";
      if (event.kind !== "CHANGED" || !name.startsWith(prefix)) continue;
      const i = Number(name.slice(prefix.length));
      if (!(i >= 0 && i < changes)) continue;
      if (mine[i] !== null) {
        dupes += 1;
        continue;
      }
      mine[i] = performance.timeOrigin + performance.now();
      seen += 1;
      if (seen === changes) return;
    }
  } catch (error) {
    if (!stop.aborted) throw error;
  }
}

const fleet = Promise.all(Array.from({ length: watchers }, (_x, i) => watch(i)));
await Promise.race([allListed, fleet]);
console.log("ready");
await fleet;
client.close();
console.log(JSON.stringify({ arrivals, dupes }));
