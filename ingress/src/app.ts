import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { gatewayError, isGatewayError, type GatewayError } from '@infergate/shared';
import { Authenticator, registerAuth } from './auth/index.js';
import type { IngressContext } from './context.js';
import { errorHeaders } from './errorResponse.js';
import { httpLimitOptions, limitConnections, registerRequestTargetGuard } from './limits/index.js';
import { metricsRoutes } from './metricsRoute.js';
import { adminRoutes } from './routes/admin.js';
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
    case 'FST_ERR_BAD_URL':
      return gatewayError('invalid_path');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return gatewayError('url_too_long');
    default:
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
        return gatewayError('invalid_body', 'The request could not be read.');
      }
      return gatewayError('internal');
  }
}

/** Every error the ingress answers itself: the catalog's body, its status, the request id. */
function sendError(request: FastifyRequest, reply: FastifyReply, g: GatewayError): void {
  void reply.code(g.status).headers(errorHeaders(g, request.id)).send(g.toBody());
}

/** Builds the ingress HTTP app around an already-connected context; `server.ts` only listens. */
export async function buildApp(ctx: IngressContext): Promise<FastifyInstance> {
  const app = Fastify({
    ...httpLimitOptions(ctx.config),
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // One line per request is written at completion by the relay; Fastify's own would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    // The router's refusals (a target it cannot decode) come before any hook or error handler.
    frameworkErrors: (err, request, reply) => sendError(request, reply, asGatewayError(err)),
  });

  // Bodies are forwarded byte-for-byte, so they are read as bytes whatever
  // their content type; the inference route parses JSON only to route.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const g = asGatewayError(err);
    if (g.code === 'internal') ctx.logger.error({ err, rid: request.id }, 'unhandled error');
    sendError(request, reply, g);
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, gatewayError('unsupported_path', `Unknown or forbidden path: ${request.method} ${request.url.split('?')[0]}`));
  });

  // Before every route: URL checks first, then credentials, both ahead of body reading.
  registerRequestTargetGuard(app, ctx.config);
  registerAuth(app, await Authenticator.create(ctx.config));
  limitConnections(app, ctx.config);

  await metricsRoutes(app, ctx);
  await app.register(async (scope) => healthRoutes(scope, ctx));
  await app.register(async (scope) => inferenceRoutes(scope, ctx));
  await app.register(async (scope) => adminRoutes(scope, ctx));
  return app;
}
