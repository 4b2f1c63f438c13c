import { errors as undiciErrors } from 'undici';
import {
  decodeBody,
  errorCodeOf,
  gatewayError,
  isSafeEnginePath,
  relayableResponseHeaders,
  type ErrorCode,
  type InferenceJob,
} from '@infergate/shared';
import { ResponseTail } from './affinity/engineCacheFigures.js';
import { isConnectionFailure, type EngineClient } from './engines/index.js';
import type { ReplyPublisher } from './replyPublisher.js';

/** How a job ended, which decides what happens to it in the queue. */
export type JobOutcome =
  | { readonly kind: 'served'; readonly status: number }
  | { readonly kind: 'cancelled'; readonly reason: string }
  /** The engine failed before answering; another engine may serve the job. */
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'failed'; readonly code: ErrorCode; readonly message: string };

export interface RunContext {
  readonly engine: EngineClient;
  readonly dispatcherId: string;
  readonly backendTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** A publisher for the job's reply channel; heartbeats are sent for it until it is closed. */
  openPublisher(job: InferenceJob, onNoSubscriber: () => void): ReplyPublisher;
  closePublisher(publisher: ReplyPublisher): void;
  /** Records that the client has seen bytes, so the job is never run again (and that the engine has the job). */
  markStarted(job: InferenceJob): void;
  /** The engine finished its answer; `tail` holds its last bytes (TAIL_BYTES). */
  answered?(job: InferenceJob, tail: Buffer): void;
}

/** Statuses that mean "this engine cannot take it now", not "the request is bad". */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Forwards one job to the engine byte-for-byte and publishes the response as
 * frames. `abort` is the job's controller: a cancel message, a vanished
 * ingress, the backend timeout or a shutdown abort it with a reason string.
 */
export async function runJob(
  job: InferenceJob,
  abort: AbortController,
  lastAttempt: boolean,
  ctx: RunContext,
): Promise<JobOutcome> {
  const publisher = ctx.openPublisher(job, () => abort.abort('reply path gone'));
  const timeout = setTimeout(() => abort.abort('backend_timeout'), ctx.backendTimeoutMs);
  let headSent = false;
  try {
    // The ingress forwards only allow-listed paths; whatever else put this job
    // in Redis must not be able to aim the engine client anywhere else.
    if (!isSafeEnginePath(job.path)) {
      const { message } = gatewayError('invalid_path');
      publisher.error('invalid_path', message);
      await publisher.drained().catch(() => undefined);
      return { kind: 'failed', code: 'invalid_path', message };
    }
    const res = await ctx.engine.request({
      method: job.method as 'POST',
      path: job.path,
      headers: { ...job.headers, ...ctx.engine.authHeaders, 'x-request-id': job.rid },
      body: job.method === 'GET' || job.method === 'HEAD' ? null : decodeBody(job),
      signal: abort.signal,
      headersTimeout: ctx.backendTimeoutMs,
      bodyTimeout: ctx.idleTimeoutMs,
    });
    if (RETRYABLE_STATUS.has(res.statusCode) && !lastAttempt) {
      await res.body.dump();
      return { kind: 'retry', reason: `engine answered ${res.statusCode}` };
    }
    publisher.head({ status: res.statusCode, headers: relayableResponseHeaders(res.headers), dispatcher: ctx.dispatcherId });
    headSent = true;
    ctx.markStarted(job);
    const tail = ctx.answered ? new ResponseTail() : undefined;
    // A 'data' listener costs less per chunk than async iteration.
    await new Promise<void>((resolve, reject) => {
      res.body.on('data', (chunk: Buffer) => {
        publisher.data(chunk);
        tail?.push(chunk);
      });
      res.body.once('end', resolve);
      res.body.once('error', reject);
    });
    publisher.end();
    if (tail) ctx.answered!(job, tail.value);
    await publisher.drained();
    return { kind: 'served', status: res.statusCode };
  } catch (err) {
    return failure(err, abort.signal, headSent, lastAttempt, publisher);
  } finally {
    clearTimeout(timeout);
    ctx.closePublisher(publisher);
  }
}

async function failure(
  err: unknown,
  signal: AbortSignal,
  headSent: boolean,
  lastAttempt: boolean,
  publisher: ReplyPublisher,
): Promise<JobOutcome> {
  const reason = signal.aborted ? String(signal.reason) : undefined;
  if (reason !== undefined && reason !== 'backend_timeout') {
    // A cancel named by an error code (an operator's) may have a client still
    // waiting: it gets that error now rather than a stalled response.
    const code = errorCodeOf(reason);
    if (code !== 'internal') {
      publisher.error(code, gatewayError(code).message);
      await publisher.drained().catch(() => undefined);
    }
    return { kind: 'cancelled', reason };
  }
  let code: ErrorCode;
  let message: string;
  if (reason === 'backend_timeout' || err instanceof undiciErrors.HeadersTimeoutError) {
    code = 'backend_timeout';
    message = 'The engine did not finish within BACKEND_TIMEOUT_SECONDS.';
  } else if (err instanceof undiciErrors.BodyTimeoutError) {
    code = 'idle_timeout';
    message = 'The engine sent nothing for IDLE_TIMEOUT_SECONDS.';
  } else if (!headSent && isConnectionFailure(err)) {
    if (!lastAttempt) return { kind: 'retry', reason: (err as Error).message };
    code = 'backend_unavailable';
    message = 'The engine failed before answering.';
  } else {
    code = headSent ? 'stream_interrupted' : 'backend_unavailable';
    message = headSent ? 'The engine stopped in the middle of the response.' : 'The engine failed before answering.';
  }
  publisher.error(code, message);
  await publisher.drained().catch(() => undefined);
  return { kind: 'failed', code, message };
}
