import type { FastifyRequest } from 'fastify';
import type { Logger } from '@infergate/shared';
import type { RelayOutcome } from './requestRelay.js';

/** The one log line of a relayed request, written when it settles; it names the key, never its secret. */
export function logRequest(log: Logger, request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void {
  log.info(
    {
      rid: request.id,
      principal: request.principal && `${request.principal.kind}:${request.principal.id}`,
      path: loggedPath(request, outcome),
      model,
      dispatcher: outcome.dispatcher,
      status: outcome.status,
      error: outcome.error,
      queueWaitMs: outcome.queueWaitMs,
      headMs: outcome.headMs,
      ttftMs: outcome.ttftMs,
      durationMs,
      bytes: outcome.bytes,
    },
    'request',
  );
}

/**
 * A path no route names (forwarded by FORWARD_PATHS=any) that its engine
 * does not know either is whatever the client typed, prompt text included:
 * it is not written down.
 */
function loggedPath(request: FastifyRequest, outcome: RelayOutcome): string | undefined {
  return request.is404 && outcome.status === 404 ? '(unknown path)' : request.url.split('?')[0];
}
