/*
 * The never-run-twice record of one request, at `RedisNames.jobFate`. Two
 * writers, two meanings, one rule: a job whose fate is recorded is not run
 * again when stalled-job recovery hands it out a second time.
 *  - `started`: a dispatcher sent the client the response head, so a second
 *    run would send it a second response.
 *  - `abandoned`: the ingress cancelled it (the client left, or the relay
 *    gave up), so nobody waits for a second run.
 */
export type JobFate =
  | { readonly kind: 'started'; readonly dispatcher: string }
  | { readonly kind: 'abandoned' };

const ABANDONED = 'abandoned';
const STARTED_PREFIX = 'started:';

export function encodeJobFate(fate: JobFate): string {
  return fate.kind === 'abandoned' ? ABANDONED : `${STARTED_PREFIX}${fate.dispatcher}`;
}

/**
 * The fate a stored value records; undefined when none is recorded. A value
 * that is neither form (an older dispatcher stored its bare id) still means
 * the job started somewhere.
 */
export function decodeJobFate(raw: string | null): JobFate | undefined {
  if (raw === null) return undefined;
  if (raw === ABANDONED) return { kind: 'abandoned' };
  return { kind: 'started', dispatcher: raw.startsWith(STARTED_PREFIX) ? raw.slice(STARTED_PREFIX.length) : raw };
}
