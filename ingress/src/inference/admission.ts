import { gatewayError } from '@infergate/shared';
import type { Principal } from '../auth/index.js';
import type { IngressContext } from '../context.js';
import { retryAfterSeconds } from '../fairness/eta.js';
import type { ClientPresence } from './clientPresence.js';

/** Gives back what admission holds for a request (its per-key concurrency slot); call it once. */
export type Release = () => void;

const NOTHING_HELD: Release = () => undefined;

type AdmissionContext = Pick<IngressContext, 'config' | 'draining' | 'queueDepths' | 'drainRate' | 'fair' | 'limiter' | 'usage'>;

/**
 * Whether a request may be queued now: not while the ingress drains, not
 * beyond the model's queue-depth limit, not for a key over a token limit,
 * not beyond its key's request limits. Every
 * refusal is a catalog error with its Retry-After.
 */
export class Admission {
  constructor(private readonly ctx: AdmissionContext) {}

  /** Checked first, before the body is looked at: a draining ingress takes nothing new. */
  refuseIfDraining(): void {
    if (this.ctx.draining) throw gatewayError('shutting_down', undefined, { retryAfterSeconds: 1 });
  }

  /**
   * Admits one request for `model`. Resolves to what gives its slot back, or
   * to undefined when the client left meanwhile: nothing is then held.
   */
  async admit(model: string, principal: Principal | null, rid: string, client: ClientPresence): Promise<Release | undefined> {
    await this.refuseIfQueueFull(model);
    if (client.gone) return undefined;
    if (principal) await this.ctx.usage.admit(principal);
    const release = principal ? await this.ctx.limiter.acquire(principal, rid) : NOTHING_HELD;
    if (!client.gone) return release;
    release();
    return undefined;
  }

  private async refuseIfQueueFull(model: string): Promise<void> {
    const max = this.ctx.config.MAX_QUEUED_PER_MODEL;
    if (max === 0) return;
    const known = this.ctx.queueDepths.current(model);
    const depth = typeof known === 'number' ? known : await known;
    if (depth >= max) {
      throw gatewayError('queue_full', `The queue for model '${model}' is full (${depth} waiting).`, {
        // When enough of the queue has drained for this request to fit.
        retryAfterSeconds: (await retryAfterSeconds(this.ctx, model, depth - max + 1)) ?? 1,
      });
    }
  }
}
