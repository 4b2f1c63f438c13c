import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { gatewayError, isGatewayError, type GatewayError } from '@infergate/shared';
import type { IngressContext } from './context.js';
import { errorHeaders } from './errorResponse.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';

/** Fastify's own failures (body limits, bad framing) mapped onto the gateway's error catalog. */
function asGatewayError(err: FastifyError | Error): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as FastifyError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return gatewayError('body_too_large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return gatewayError('invalid_body');
    default:
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
        return gatewayError('invalid_body', 'The request could not be read.');
      }
      return gatewayError('internal');
  }
}

/** Builds the ingress HTTP app around an already-connected context; `server.ts` only listens. */
export async function buildApp(ctx: IngressContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // One line per request is written at completion by the relay; Fastify's own would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
  });

  // Bodies are forwarded byte-for-byte, so they are read as bytes whatever
  // their content type; the inference route parses JSON only to route.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const g = asGatewayError(err);
    if (g.code === 'internal') ctx.logger.error({ err, rid: request.id }, 'unhandled error');
    void reply.code(g.status).headers(errorHeaders(g, request.id)).send(g.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const g = gatewayError('unsupported_path', `Unknown or forbidden path: ${request.method} ${request.url.split('?')[0]}`);
    void reply.code(g.status).headers(errorHeaders(g, request.id)).send(g.toBody());
  });

  await app.register(async (scope) => healthRoutes(scope, ctx));
  await app.register(async (scope) => inferenceRoutes(scope, ctx));
  return app;
}
