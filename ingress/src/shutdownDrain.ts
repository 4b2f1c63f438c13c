import { gatewayError, type Logger } from '@infergate/shared';
import type { ReplyRouter } from './replyRouter.js';

const DRAIN_POLL_MS = 50;

/** Lets open responses finish within `budgetMs`, then fails what is still open with `shutting_down`. */
export async function drainOpenResponses(router: ReplyRouter, budgetMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + budgetMs;
  while (router.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  if (router.open > 0) log.warn({ open: router.open }, 'drain budget spent; failing open responses');
  router.failAll(gatewayError('shutting_down'));
}
