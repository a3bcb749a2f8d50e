/**
 * When wait() reconnects after the daemon went away, and when it gives up (the Python client's
 * rule, aihubd_client/resume.py): an outage starts at the first loss; attempts follow with a
 * doubling pause; a stream that stayed up `stableAfter` ms ends the outage; after `window` ms the
 * wait gives up. A wait that never reached the daemon does not reconnect: it is not running.
 */

import { setTimeout as delay } from "node:timers/promises";

export interface ReconnectPolicy {
  /** Keep trying this long (ms) after the daemon went away; 0 disables reconnecting. */
  window: number;
  /** A stream that lived this long (ms) means the daemon is back. */
  stableAfter: number;
  firstPause: number;
  maxPause: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  window: 60_000,
  stableAfter: 5_000,
  firstPause: 100,
  maxPause: 1_000,
};

export class Reconnect {
  private readonly policy: ReconnectPolicy;
  private openedAt: number | undefined;
  private open = false;
  private since: number | undefined;
  private nextPause: number;

  constructor(
    policy: Partial<ReconnectPolicy> = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_RECONNECT, ...policy };
    this.nextPause = this.policy.firstPause;
  }

  connected(): void {
    if (!this.open) this.openedAt = this.clock();
    this.open = true;
  }

  /** The stream is gone (or an attempt failed): ms to pause, or undefined to give up. */
  lost(): number | undefined {
    const now = this.clock();
    if (this.openedAt === undefined || this.policy.window <= 0) return undefined;
    if (this.open) {
      if (this.since === undefined || now - this.openedAt >= this.policy.stableAfter) {
        this.since = now;
        this.nextPause = this.policy.firstPause;
      }
      this.open = false;
    }
    const since = this.since as number;
    if (now - since >= this.policy.window) return undefined;
    const pause = Math.min(this.nextPause, since + this.policy.window - now);
    this.nextPause = Math.min(this.nextPause * 2, this.policy.maxPause);
    return pause;
  }
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, signal === undefined ? undefined : { signal }).catch((error: unknown) => {
    throw signal?.aborted ? signal.reason : error;
  });
}
