/**
 * What an IDE plugin's job panel needs: a live map of every job the daemon follows, kept from
 * watchJobs and printed each time it changes. Build and run (from clients/node):
 *
 *     npm run build && node dist/examples/jobs-panel.js [--socket PATH] [--name TEXT]
 *
 * Ctrl-C stops it. In a plugin, import from "aihubd-client" instead of "../src/index.js", and
 * redraw your tree view where this prints.
 */

import { parseArgs } from "node:util";

import { AihubdClient, type Job, JobState, type WatchEvent } from "../src/index.js";

/** The panel's model: jobs by id, replaced whole when a listing ends, updated by each change. */
export class JobsPanel {
  readonly jobs = new Map<string, Job>();
  revision = 0;
  private listing: Map<string, Job> | undefined;

  /** Apply one event; true when the visible map changed. */
  apply(event: WatchEvent): boolean {
    this.revision = event.revision;
    switch (event.kind) {
      case "SNAPSHOT": // a listing (the first, or a new one after the daemon lost our revision)
        (this.listing ??= new Map()).set(event.job.jobId, event.job);
        return false;
      case "SNAPSHOT_END":
        this.jobs.clear();
        for (const [id, job] of this.listing ?? []) this.jobs.set(id, job);
        this.listing = undefined;
        return true;
      case "APPEARED":
      case "CHANGED":
        this.jobs.set(event.job.jobId, event.job);
        return true;
      case "UNTRACKED":
        return this.jobs.delete(event.job.jobId);
      case "BOOKMARK":
        return false;
    }
  }

  render(): string {
    const rows = [...this.jobs.values()]
      .sort((a, b) => (a.creationTime?.getTime() ?? 0) - (b.creationTime?.getTime() ?? 0))
      .map((job) => `${job.jobId}\t${stateName(job.state)}\t${job.name}${job.message ? `\t(${job.message})` : ""}`);
    return [`--- ${this.jobs.size} job(s) at revision ${this.revision}`, ...rows].join("\n");
  }
}

function stateName(state: JobState): string {
  return (JobState[state] ?? String(state)).replace(/^JOB_STATE_/, "");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { socket: { type: "string" }, name: { type: "string" } } });
  const client = new AihubdClient(values.socket === undefined ? {} : { socketPath: values.socket });
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  const panel = new JobsPanel();
  try {
    for await (const event of client.watchJobs({ nameContains: values.name ?? "" }, { signal: stop.signal })) {
      if (panel.apply(event)) console.log(panel.render());
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    client.close();
  }
}

await main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
