/** Errors: the class tree keyed by the daemon's ErrorInfo reasons, from the table and end to end. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";

import {
  AihubdClient,
  AihubdError,
  DaemonUnavailableError,
  FailedPreconditionError,
  fromServiceError,
  HubCredentialsError,
  HubUnavailableError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UserError,
} from "../src/index.js";
import { ErrorInfo, RetryInfo } from "../src/gen/google/rpc/error_details.js";
import { Status } from "../src/gen/google/rpc/status.js";
import { DEVICE, Stack } from "./harness.js";

function serviceError(code: status, message: string, reason?: string, retrySeconds?: number): ServiceError {
  const metadata = new Metadata();
  const details = [];
  if (reason !== undefined) {
    details.push({
      typeUrl: "type.googleapis.com/google.rpc.ErrorInfo",
      value: Buffer.from(ErrorInfo.encode({ reason, domain: "aihubd", metadata: {} }).finish()),
    });
  }
  if (retrySeconds !== undefined) {
    const seconds = Math.trunc(retrySeconds);
    const retryDelay = { seconds, nanos: Math.round((retrySeconds - seconds) * 1e9) };
    details.push({
      typeUrl: "type.googleapis.com/google.rpc.RetryInfo",
      value: Buffer.from(RetryInfo.encode({ retryDelay }).finish()),
    });
  }
  if (details.length > 0) {
    metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code, message, details }).finish()));
  }
  return Object.assign(new Error(message), { code, details: message, metadata });
}

describe("the table", () => {
  const cases: [string, status, new (...args: never[]) => AihubdError][] = [
    ["INVALID_ARGUMENT", status.INVALID_ARGUMENT, InvalidArgumentError],
    ["NOT_FOUND", status.NOT_FOUND, NotFoundError],
    ["HUB_PERMISSION_DENIED", status.PERMISSION_DENIED, PermissionDeniedError],
    ["FAILED_PRECONDITION", status.FAILED_PRECONDITION, FailedPreconditionError],
    ["LOCAL_RESOURCE_EXHAUSTED", status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
    ["NO_HUB_CREDENTIALS", status.FAILED_PRECONDITION, HubCredentialsError],
    ["HUB_TOKEN_REJECTED", status.FAILED_PRECONDITION, HubCredentialsError],
    ["HUB_UNAVAILABLE", status.UNAVAILABLE, HubUnavailableError],
    ["DAEMON_SHUTTING_DOWN", status.UNAVAILABLE, DaemonUnavailableError],
    ["HUB_PROTOCOL_ERROR", status.INTERNAL, InternalError],
    ["INTERNAL", status.INTERNAL, InternalError],
  ];
  for (const [reason, code, kind] of cases) {
    test(`reason ${reason} -> ${kind.name}`, () => {
      const error = fromServiceError(serviceError(code, `the daemon says ${reason}`, reason), "/run/x.sock");
      assert.ok(error instanceof kind, error.name);
      assert.equal(error.name, kind.name);
      assert.equal(error.reason, reason);
      assert.equal(error.code, code);
      assert.match(error.message, new RegExp(reason));
    });
  }

  test("RetryInfo becomes retryAfter in milliseconds", () => {
    const error = fromServiceError(serviceError(status.UNAVAILABLE, "Hub down", "HUB_UNAVAILABLE", 2.5), "/s");
    assert.ok(error instanceof HubUnavailableError);
    assert.equal(error.retryAfter, 2500);
  });

  test("without a reason: by code; UNAVAILABLE is the socket, naming it and how to start the daemon", () => {
    const gone = fromServiceError(serviceError(status.UNAVAILABLE, "Connection dropped"), "/run/aihubd.sock");
    assert.ok(gone instanceof DaemonUnavailableError);
    assert.equal(gone.socketPath, "/run/aihubd.sock");
    assert.match(gone.message, /\/run\/aihubd\.sock.*aihubd serve/);
    const limited = fromServiceError(serviceError(status.RESOURCE_EXHAUSTED, "too many"), "/s");
    assert.ok(limited instanceof ResourceExhaustedError);
    assert.ok(fromServiceError(serviceError(status.NOT_FOUND, "x"), "/s") instanceof NotFoundError);
    assert.ok(fromServiceError(serviceError(status.UNKNOWN, "x"), "/s") instanceof InternalError);
    assert.ok(fromServiceError(serviceError(status.ALREADY_EXISTS, "x"), "/s") instanceof UserError);
  });

  test("an undecodable details trailer is ignored, not thrown", () => {
    const broken = serviceError(status.NOT_FOUND, "gone");
    broken.metadata.set("grpc-status-details-bin", Buffer.from([0xff, 0xff, 0xff]));
    const error = fromServiceError(broken, "/s");
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.reason, "");
  });
});

describe("end to end", () => {
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

  test("InvalidArgumentError for a submit without models, naming the problem", async () => {
    await assert.rejects(client.submitLinkJob({ models: [], device: DEVICE }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError && error instanceof UserError);
      assert.equal(error.reason, "INVALID_ARGUMENT");
      assert.match(error.message, /model/);
      return true;
    });
  });

  test("NotFoundError for an unknown job", async () => {
    await assert.rejects(client.getJob("jnosuchjob1"), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.reason, "NOT_FOUND");
      assert.match(error.message, /jnosuchjob1/);
      return true;
    });
  });

  test("HubUnavailableError with retryAfter while the Hub is down", async () => {
    const job = await client.submitLinkJob({ models: stack.models, device: DEVICE });
    await stack.emulator.setFaults({ down: true, retry_after: 1 });
    try {
      await assert.rejects(client.getSharing(job.jobId, { timeout: 60_000 }), (error: unknown) => {
        assert.ok(error instanceof HubUnavailableError, String(error));
        assert.equal(error.reason, "HUB_UNAVAILABLE");
        assert.ok(error.retryAfter !== undefined && error.retryAfter > 0, String(error.retryAfter));
        return true;
      });
    } finally {
      await stack.emulator.setFaults(null);
    }
    assert.deepEqual(await client.getSharing(job.jobId), []);
  });

  test("DaemonUnavailableError for a missing socket names it and how to start the daemon", async () => {
    const socketPath = join(stack.dir, "nobody-here.sock");
    const nobody = new AihubdClient({ socketPath });
    await assert.rejects(nobody.daemonInfo(), (error: unknown) => {
      assert.ok(error instanceof DaemonUnavailableError);
      assert.equal(error.socketPath, socketPath);
      assert.match(error.message, /nobody-here\.sock.*no socket file there.*aihubd serve/);
      return true;
    });
    nobody.close();
  });

  test("a closed client says so", async () => {
    const closed = stack.client();
    closed.close();
    await assert.rejects(closed.getJob("j1"), /closed/);
  });

  test("DaemonUnavailableError when the daemon was killed (socket file left behind)", async () => {
    const job = await client.submitLinkJob({ models: stack.models, device: DEVICE });
    assert.equal(await stack.daemon.stop("SIGKILL"), -1);
    try {
      await assert.rejects(client.getJob(job.jobId), (error: unknown) => {
        assert.ok(error instanceof DaemonUnavailableError, String(error));
        assert.equal(error.socketPath, stack.daemon.socket);
        assert.match(error.message, /aihubd serve/);
        return true;
      });
    } finally {
      stack.daemon = await stack.daemon.restart();
    }
  });
});
