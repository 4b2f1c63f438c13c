import type { TraceCarrier } from '../observability/tracing.js';

/** Version of {@link InferenceJob}; a dispatcher refuses jobs of another version. */
export const JOB_VERSION = 1;

/**
 * What an ingress puts in a model's queue: the HTTP request, byte-exact, and
 * where to send the answer. Stored by BullMQ as JSON, so the body travels as
 * base64.
 */
export interface InferenceJob {
  readonly v: typeof JOB_VERSION;
  /** Request id; also the BullMQ job id. */
  readonly rid: string;
  readonly method: string;
  /** Path with query string, as the client sent it. */
  readonly path: string;
  /** Request headers after filtering (no hop-by-hop, no client credentials). */
  readonly headers: Readonly<Record<string, string>>;
  /** Raw body bytes, base64. */
  readonly body: string;
  readonly model: string;
  readonly stream: boolean;
  /** Epoch ms after which nobody waits for the answer. */
  readonly deadline: number;
  /** Reply channel of the ingress that holds the client. */
  readonly replyTo: string;
  readonly enqueuedAt: number;
  /** Non-secret id of the API key or tenant that sent it, for queue inspection. */
  readonly keyId?: string;
  /**
   * Cache-affinity keys the dispatcher records once it started the job.
   * Optional, so jobs of this version from ingresses without affinity, and
   * dispatchers without it reading these, both keep working.
   */
  readonly affinity?: JobAffinity;
  /**
   * The W3C trace context of the ingress's span for this request, when the
   * ingress traces: the dispatcher's spans and the engine's request join it.
   * Optional, like `affinity`, so either side may trace without the other.
   */
  readonly trace?: TraceCarrier;
}

export interface JobAffinity {
  /** Session hash (see shared/src/affinity). */
  readonly session?: string;
  /** Prefix-chain hashes, shortest prefix first. */
  readonly blocks: readonly string[];
  /**
   * The job was moved out of a lane (stolen at the bound, or adopted from a
   * dead dispatcher's lane): its client may have cancelled meanwhile, so the
   * dispatcher checks the started flag before running it.
   */
  readonly moved?: boolean;
}

/**
 * BullMQ options of every inference job, wherever it is (re)queued: removed
 * when it finishes (prompts are user data; the answer travels over the reply
 * channel), never retried by BullMQ itself. `priority`: 1 is the most urgent.
 */
export function inferenceJobOptions(rid: string, priority: number) {
  return { jobId: rid, removeOnComplete: true, removeOnFail: true, attempts: 1, priority } as const;
}

export function encodeBody(body: Buffer): string {
  return body.toString('base64');
}

export function decodeBody(job: InferenceJob): Buffer {
  return Buffer.from(job.body, 'base64');
}

export function isInferenceJob(data: unknown): data is InferenceJob {
  const d = data as Partial<InferenceJob> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    d.v === JOB_VERSION &&
    typeof d.rid === 'string' &&
    typeof d.method === 'string' &&
    typeof d.path === 'string' &&
    typeof d.body === 'string' &&
    typeof d.replyTo === 'string'
  );
}
