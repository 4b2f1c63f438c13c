import type { FastifyRequest } from 'fastify';
import type { Logger } from '@infergate/shared';
import type { RelayOutcome } from './requestRelay.js';

/** The one log line of a relayed request, written when it settles; it names the key, never its secret. */
export function logRequest(log: Logger, request: FastifyRequest, model: string, outcome: RelayOutcome, durationMs: number): void {
  log.info(
    {
      rid: request.id,
      principal: request.principal && `${request.principal.kind}:${request.principal.id}`,
      path: request.url.split('?')[0],
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
