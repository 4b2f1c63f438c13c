import { isGatewayError, PRIORITY_CLASSES, type GatewayError } from '@infergate/shared';
import type { Principal } from '../../ingress/src/auth/principal.js';

/*
 * For the ingress's limit tests: a fresh API-key principal per call (so no
 * test shares another's Redis state) and the catalog error an attempt was
 * refused with.
 */

let n = 0;

/** A key principal with no limits but those given, its id unique in this process. */
export function testPrincipal(limits: Partial<Principal> = {}, idPrefix = 'k'): Principal {
  return { kind: 'key', id: `${idPrefix}${++n}`, rpm: 0, concurrent: 0, tpm: 0, dailyTokens: 0, monthlyTokens: 0, priority: PRIORITY_CLASSES.normal, weight: 1, ...limits };
}

/** The GatewayError `attempt` rejected with; undefined when it was admitted. Any other error fails the test. */
export async function refusal(attempt: Promise<unknown>): Promise<GatewayError | undefined> {
  try {
    await attempt;
    return undefined;
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return err;
  }
}
