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
