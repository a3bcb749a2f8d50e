/**
 * Test harness: a real Hub emulator and daemon as child processes (loopback, temp dirs), the
 * emulator's admin API, and Python children for the cross-language tests.
 *
 * Children are started through tests/integration/child_procs.py's boot step, so the kernel kills
 * them when this process dies (no daemon is left behind by a killed test run).
 * $AIHUBD_TEST_PYTHON: the interpreter with aihubd installed (default: the repo's .venv).
 */

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";

import { AihubdClient, JobState } from "../src/index.js";

export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const PYTHON = process.env.AIHUBD_TEST_PYTHON ?? join(ROOT, ".venv", "bin", "python");
export const DEVICE = "Snapdragon 8 Elite QRD";
const TOKEN = "test-token-node";
const START_TIMEOUT_MS = 60_000;
const LOADER =
  "import sys; sys.path.insert(0, sys.argv.pop(1)); from child_procs import BOOT; exec(compile(BOOT, 'boot', 'exec'))";

/** A process started so that it dies with this one; its stdout as lines. */
export class Child {
  readonly lines: AsyncIterableIterator<string>;
  private readonly reader: Interface;
  readonly exited: Promise<number | null>;

  constructor(
    readonly proc: ChildProcessWithoutNullStreams,
    readonly log: string,
  ) {
    this.reader = createInterface({ input: proc.stdout });
    this.lines = this.reader[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve(signal ? -1 : code)));
  }

  /** The next stdout line; throws (with the log) when the child exits or stays silent too long. */
  async nextLine(timeoutMs = START_TIMEOUT_MS): Promise<string> {
    const timer = AbortSignal.timeout(timeoutMs);
    const line = await Promise.race([this.lines.next(), once(timer, "abort").then(() => ({ done: true, value: "" }))]);
    if (line.done) throw new Error(`no line from child (exit ${this.proc.exitCode}):\n${this.readLog()}`);
    return line.value;
  }

  readLog(): string {
    try {
      return readFileSync(this.log, "utf8");
    } catch {
      return "(no log)";
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    const code = await this.exited;
    this.reader.close();
    return code;
  }
}

/** `argv` as a guarded child of this process (stdout piped, stderr to `log`). */
export function guarded(argv: string[], log: string, env: NodeJS.ProcessEnv = cleanEnv()): Child {
  const err = openSync(log, "a");
  const proc = spawn(PYTHON, ["-c", LOADER, join(ROOT, "tests", "integration"), String(process.pid), ...argv], {
    env,
    stdio: ["pipe", "pipe", err],
  }) as unknown as ChildProcessWithoutNullStreams;
  return new Child(proc, log);
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("AIHUBD_") && !key.startsWith("QAIHUB_")) env[key] = value;
  }
  return { ...env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost", ...extra };
}

export class Emulator {
  private constructor(
    readonly baseUrl: string,
    readonly child: Child,
  ) {}

  /** `aihubd emulator --manual`: jobs move only on advance(). */
  static async start(dir: string): Promise<Emulator> {
    const child = guarded(
      [PYTHON, "-m", "aihubd", "emulator", "--port", "0", "--state-dir", join(dir, "emu"), "--manual"],
      join(dir, "emulator.log"),
    );
    return new Emulator(await child.nextLine(), child);
  }

  async advance(jobId: string): Promise<void> {
    await this.admin("POST", `jobs/${jobId}/advance`);
  }

  /** PUT the emulator's fault config (aihubd.emulator.faults.FaultConfig); null clears it. */
  async setFaults(config: Record<string, unknown> | null): Promise<void> {
    if (config === null) await this.admin("DELETE", "faults");
    else await this.admin("PUT", "faults", config);
  }

  private async admin(method: string, path: string, body?: unknown): Promise<void> {
    const response = await fetch(`${this.baseUrl}/_emulator/${path}`, {
      method,
      body: body === undefined ? "" : JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
    if (!response.ok) throw new Error(`emulator ${method} ${path}: ${response.status} ${await response.text()}`);
  }

  stop(): Promise<number | null> {
    return this.child.stop();
  }
}

export class Daemon {
  private constructor(
    readonly socket: string,
    readonly child: Child,
    private readonly argv: string[],
    private readonly dir: string,
  ) {}

  /** A real daemon on a temp socket whose Hub is `emulator` (poll interval 1 h: a change is seen only on refresh). */
  static async start(dir: string, emulator: Emulator, extraArgs: string[] = []): Promise<Daemon> {
    const socket = join(dir, "run", "aihubd.sock");
    const argv = [
      PYTHON,
      "-m",
      "aihubd",
      "serve",
      "--socket",
      socket,
      "--state-dir",
      join(dir, "state"),
      "--hub-url",
      emulator.baseUrl,
      "--poll-interval",
      "3600",
      "--hub-rate",
      "1000",
      ...extraArgs,
    ];
    return new Daemon(socket, await Daemon.spawn(argv, dir, socket), argv, dir);
  }

  private static async spawn(argv: string[], dir: string, socket: string): Promise<Child> {
    const env = cleanEnv({ AIHUBD_HUB_TOKEN: TOKEN, QAIHUB_CLIENT_INI: join(dir, "none.ini") });
    const child = guarded(argv, join(dir, "daemon.log"), env);
    const line = await child.nextLine();
    if (line !== `aihubd ready on unix:${socket}`)
      throw new Error(`unexpected daemon line ${line}\n${child.readLog()}`);
    return child;
  }

  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    return this.child.stop(signal);
  }

  /** The same daemon (socket, state) started again after it stopped. */
  async restart(): Promise<Daemon> {
    return new Daemon(this.socket, await Daemon.spawn(this.argv, this.dir, this.socket), this.argv, this.dir);
  }
}

/** A temp dir with an emulator and a daemon, for one test file. */
export class Stack {
  private constructor(
    readonly dir: string,
    readonly emulator: Emulator,
    public daemon: Daemon,
    readonly models: [string, string],
    readonly brokenModels: [string, string],
  ) {}

  /** `daemonArgs`: more `aihubd serve` options (e.g. ["--feed-history", "20"]). */
  static async start(daemonArgs: string[] = []): Promise<Stack> {
    const dir = mkdtempSync(join(tmpdir(), "aihubd-node-"));
    const emulator = await Emulator.start(dir);
    const daemon = await Daemon.start(dir, emulator, daemonArgs);
    const shared = Buffer.alloc(4096, 7);
    const a = join(dir, "graph_a.dlc");
    const b = join(dir, "graph_b.dlc");
    const empty = join(dir, "empty.dlc");
    writeFileSync(a, Buffer.concat([Buffer.from("A-graph"), shared]));
    writeFileSync(b, Buffer.concat([Buffer.from("B-graph"), shared]));
    writeFileSync(empty, ""); // an empty .dlc makes the emulated link fail
    return new Stack(dir, emulator, daemon, [a, b], [empty, a]);
  }

  client(): AihubdClient {
    return new AihubdClient({ socketPath: this.daemon.socket });
  }

  /** CREATED -> LINKING_MODELS -> DONE (or FAILED for brokenModels), each seen by the daemon. */
  async finish(client: AihubdClient, jobId: string): Promise<void> {
    for (let step = 0; step < 2; step += 1) {
      await this.emulator.advance(jobId);
      await client.refreshJobs({ timeout: 30_000 });
    }
    const job = await client.getJob(jobId);
    if (job.state !== JobState.JOB_STATE_DONE && job.state !== JobState.JOB_STATE_FAILED) {
      throw new Error(`job ${jobId} did not finish: ${JobState[job.state]}`);
    }
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    await this.emulator.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolve once the daemon reports `count` open WatchJobs streams (a cancel reaches it
 * asynchronously: asked again until then, for at most `timeoutMs`); rejects with what it saw. */
export async function watchStreamsReach(client: AihubdClient, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < deadline) {
    seen = (await client.daemonInfo()).watchStreams;
    if (seen === count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the daemon reports ${seen} open watch streams, not ${count}`);
}

/** `python -c code args...` with aihubd_client importable, guarded; stdout as lines. */
export function python(code: string, args: string[], log: string): Child {
  return guarded([PYTHON, "-c", code, ...args], log);
}
