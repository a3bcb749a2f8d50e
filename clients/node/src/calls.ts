/**
 * grpc-js calls as promises and async iterators, each cancellable by an AbortSignal and bounded by
 * an optional timeout (milliseconds, a gRPC deadline); failures become this library's errors.
 */

import {
  type CallOptions as GrpcCallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";

export interface CallOptions {
  /** Aborting cancels the call (the job itself is untouched); the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Milliseconds until the call gives up with a DeadlineError (default: no limit). */
  timeout?: number;
}

export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export type StreamMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
) => ClientReadableStream<Res>;

/** Turns a failed call into the error to throw; `timeout` is the caller's, when one was given. */
export type Translate = (error: ServiceError, timeout: number | undefined) => Error;

export function deadlineOf(options: { timeout?: number; deadline?: number }): Partial<GrpcCallOptions> {
  if (options.deadline !== undefined) return { deadline: options.deadline };
  if (options.timeout === undefined || options.timeout <= 0) return {};
  return { deadline: Date.now() + options.timeout };
}

/** One unary call as a promise. */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: CallOptions,
  translate: Translate,
): Promise<Res> {
  const { signal } = options;
  return new Promise<Res>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      cancelOnTheWire(call);
      reject(signal?.reason);
    };
    const call = method(request, new Metadata(), deadlineOf(options), (error, response) => {
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) return; // already rejected with the abort reason
      if (error) reject(translate(error, options.timeout));
      else resolve(response);
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A server stream as an async iterator; leaving the loop early (or aborting) cancels the call. */
export async function* serverStream<Req, Res>(
  method: StreamMethod<Req, Res>,
  request: Req,
  options: CallOptions & { deadline?: number },
  translate: Translate,
): AsyncGenerator<Res, void, undefined> {
  const { signal } = options;
  signal?.throwIfAborted();
  const call = method(request, new Metadata(), deadlineOf(options));
  const onAbort = (): void => {
    cancelOnTheWire(call);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const message of call) {
      yield message as Res;
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (isServiceError(error)) throw translate(error, options.timeout);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    cancelOnTheWire(call); // no-op after the stream ended
  }
}

/**
 * Cancel a call so the daemon hears it. A grpc-js call cancelled in the same tick (or microtask) it
 * was started in still reaches the daemon, and grpc.aio never learns of the cancel: the handler
 * runs to completion (a blocking download would still write its file after the caller aborted).
 * Cancelling from the next turn of the event loop sends the RST_STREAM after the request.
 */
function cancelOnTheWire(call: { cancel(): void }): void {
  setImmediate(() => call.cancel());
}

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number" && "metadata" in error;
}

export function isDeadline(error: ServiceError): boolean {
  return error.code === status.DEADLINE_EXCEEDED;
}
