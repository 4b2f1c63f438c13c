import { errors as undiciErrors } from 'undici';
import {
  clientErrorOf,
  decodeBody,
  gatewayError,
  isDeniedEnginePost,
  isSafeEnginePath,
  relayableResponseHeaders,
  type ErrorCode,
  type InferenceJob,
  type InternalFailures,
  type StopReason,
  type TokenUsage,
} from '@infergate/shared';
import { ResponseTail } from './affinity/engineCacheFigures.js';
import { AnswerWatcher, framingEventsOf } from './answerUsage.js';
import { isConnectionFailure, type EngineClient } from './engines/index.js';
import type { EngineCallTrace } from './jobTrace.js';
import type { DispatcherOperation } from './metrics.js';
import type { ReplyPublisher } from './replyPublisher.js';
import type { JobAbort } from './runningJobs.js';

/** How a job ended, which decides what happens to it in the queue. */
export type JobOutcome =
  | { readonly kind: 'served'; readonly status: number }
  | { readonly kind: 'cancelled'; readonly reason: StopReason }
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
  /** Records that the client has seen bytes, so the job is never run again. */
  recordStarted(rid: string): void;
  readonly failures: InternalFailures<DispatcherOperation>;
  /**
   * The engine has answered the job (its head is out): cache affinity records that the engine holds its
   * prompt. The end frame waits for what it returns (the record being sent), so it reaches Redis after.
   */
  engineAccepted?(job: InferenceJob): Promise<void> | undefined;
  /** The engine finished its answer; `tail` holds its last bytes (TAIL_BYTES). */
  answered?(job: InferenceJob, tail: Buffer): void;
}

/** Statuses that mean "this engine cannot take it now", not "the request is bad". */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Forwards one job to the engine byte-for-byte and publishes the response as
 * frames. `abort` is the job's switch: a cancel message, a vanished ingress,
 * the backend timeout or a shutdown throw it, each with its reason.
 * With a `trace`, the engine's request carries its trace context (without
 * one, the ingress's, if the job has it) and the trace hears the call's
 * milestones.
 */
export async function runJob(
  job: InferenceJob,
  abort: JobAbort,
  lastAttempt: boolean,
  ctx: RunContext,
  trace?: EngineCallTrace,
): Promise<JobOutcome> {
  const publisher = ctx.openPublisher(job, () => abort.abort('reply_unreachable'));
  const timeout = setTimeout(() => abort.abort('backend_timeout'), ctx.backendTimeoutMs);
  /** Set once the head is out: what the answer's tokens are so far, for a frame that ends it early. */
  let answer: AnswerWatcher | undefined;
  try {
    // The ingress forwards no engine admin action and no unsafe path; whatever
    // else put this job in Redis must not be able to aim the engine client there.
    // (The UI helpers are the ingress's policy: it sends them when configured.)
    if (!isSafeEnginePath(job.path) || (job.method === 'POST' && isDeniedEnginePost(job.path, { uiHelpers: true }))) {
      const { message } = gatewayError('invalid_path');
      await sendLast(publisher, { code: 'invalid_path', message }, undefined, job.rid, ctx);
      return { kind: 'failed', code: 'invalid_path', message };
    }
    const res = await ctx.engine.request({
      method: job.method,
      path: job.path,
      headers: { ...job.headers, ...(trace?.headers ?? job.trace), ...ctx.engine.authHeaders, 'x-request-id': job.rid },
      body: job.method === 'GET' || job.method === 'HEAD' ? null : decodeBody(job),
      signal: abort.signal,
      headersTimeout: ctx.backendTimeoutMs,
      bodyTimeout: ctx.idleTimeoutMs,
    });
    trace?.responded(res.statusCode);
    if (RETRYABLE_STATUS.has(res.statusCode) && !lastAttempt) {
      await res.body.dump();
      return { kind: 'retry', reason: `engine answered ${res.statusCode}` };
    }
    publisher.head({ status: res.statusCode, headers: relayableResponseHeaders(res.headers), dispatcher: ctx.dispatcherId });
    answer = new AnswerWatcher(isEventStream(res.headers['content-type']), framingEventsOf(job.path));
    const watcher = answer;
    ctx.recordStarted(job.rid);
    const recorded = ctx.engineAccepted?.(job);
    const tail = ctx.answered ? new ResponseTail() : undefined;
    // A 'data' listener costs less per chunk than async iteration.
    await new Promise<void>((resolve, reject) => {
      if (trace) res.body.once('data', trace.firstChunk);
      res.body.on('data', (chunk: Buffer) => {
        watcher.push(chunk);
        publisher.data(chunk);
        tail?.push(chunk);
      });
      res.body.once('end', resolve);
      res.body.once('error', reject);
    });
    const usage = watcher.usage();
    if (recorded) await recorded;
    publisher.end(usage);
    trace?.usage(usage);
    if (tail) ctx.answered!(job, tail.value);
    await publisher.drained();
    return { kind: 'served', status: res.statusCode };
  } catch (err) {
    return failure(err, abort, answer, lastAttempt, publisher, job.rid, ctx);
  } finally {
    clearTimeout(timeout);
    ctx.closePublisher(publisher);
  }
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  return String(contentType).toLowerCase().includes('text/event-stream');
}

/**
 * `answer`: set when the head was out. Every frame that ends a started
 * answer early carries its tokens so far, so that its key is charged what
 * its client was sent: an error frame, or, for a client that left, an end
 * frame its ingress waits for (a stream broken off just before its end
 * would otherwise cost nothing against the key's token limits).
 */
async function failure(
  err: unknown,
  abort: JobAbort,
  answer: AnswerWatcher | undefined,
  lastAttempt: boolean,
  publisher: ReplyPublisher,
  rid: string,
  ctx: RunContext,
): Promise<JobOutcome> {
  const reason = abort.reason;
  const headSent = answer !== undefined;
  const usage = answer?.usage();
  if (publisher.publishError !== undefined) {
    ctx.failures.report('reply_publish', publisher.publishError, 'reply publish failed; the ingress will time the request out', { rid });
  }
  if (reason !== undefined && reason !== 'backend_timeout') {
    // A client still waiting (an operator cancelled, the dispatcher shuts
    // down) gets the error now rather than a stalled response.
    const code = clientErrorOf(reason);
    if (code !== undefined) await sendLast(publisher, { code, message: gatewayError(code).message }, usage, rid, ctx);
    else if (reason === 'client_disconnected' && headSent) await sendLast(publisher, 'end', usage, rid, ctx);
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
  await sendLast(publisher, { code, message }, usage, rid, ctx);
  return { kind: 'failed', code, message };
}

/** The last frame of a job that did not end normally: an error for a client still waiting, or the end of one that left. */
type LastFrame = { readonly code: ErrorCode; readonly message: string } | 'end';

/**
 * Publishes the job's last frame, with the usage of an answer that had
 * started. If Redis fails it, the ingress cannot be told: its stall timeout
 * answers the client instead (relay_lost), later; a lost end costs only the
 * charge for the answer of a client that left.
 */
async function sendLast(publisher: ReplyPublisher, last: LastFrame, usage: TokenUsage | undefined, rid: string, ctx: RunContext): Promise<void> {
  // Reported already; the publisher sends nothing more.
  if (publisher.publishError !== undefined) return;
  if (last === 'end') publisher.end(usage);
  else publisher.error(last.code, last.message, usage);
  try {
    await publisher.drained();
  } catch (err) {
    if (last === 'end') ctx.failures.report('reply_publish', err, 'usage of an abandoned answer not published; its key is not charged for it', { rid });
    else ctx.failures.report('reply_publish', err, 'error frame not published; the ingress will time the request out', { rid, code: last.code });
  }
}
