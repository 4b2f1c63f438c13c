import { isInferenceJob, type InferenceJob } from './job.js';

/*
 * An engine read (a GET the gateway passes on outside the queue, see
 * security/engineRoutes.ts) travels to the one dispatcher chosen for it on
 * that dispatcher's own channel, as the same job record a queued request is,
 * and is answered with the same frames on `job.replyTo`.
 */

export function encodeEngineRead(job: InferenceJob): string {
  return JSON.stringify(job);
}

/** The read a message carries; undefined for anything else (dropped: the ingress times it out and asks another). */
export function decodeEngineRead(raw: string): InferenceJob | undefined {
  try {
    const job: unknown = JSON.parse(raw);
    return isInferenceJob(job) ? job : undefined;
  } catch {
    return undefined;
  }
}
