import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Authenticator, decoratePrincipal } from './auth/index.js';
import type { IngressContext } from './context.js';
import { asGatewayError, sendError } from './frameworkErrors.js';
import { httpLimitOptions, limitConnections, registerUrlLengthGuard } from './limits/index.js';
import { countResponses, metricsRoutes } from './metricsRoute.js';
import { adminRoutes } from './routes/admin.js';
import { webUiRoutes } from './routes/engineReads.js';
import { probeRoutes } from './routes/health.js';
import { clientApi } from './routes/inference.js';

/**
 * Builds the ingress HTTP app around an already-connected context; `main.ts`
 * only listens. Each surface is a plugin with its own hooks: probes, the
 * client API (credentials), metrics and the operator surface (admin key).
 */
export async function buildApp(ctx: IngressContext): Promise<FastifyInstance> {
  // Typed as Fastify's own logger interface so that the instance is the plain
  // FastifyInstance the plugins take, not one generic over pino's Logger.
  const loggerInstance: FastifyBaseLogger = ctx.logger;
  const app = Fastify({
    ...httpLimitOptions(ctx.config),
    loggerInstance,
    // One line per request is written at completion by the relay; Fastify's own would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // A request that reaches a closing ingress on an open keep-alive connection goes on to admission, which
    // refuses it with the catalog's `shutting_down` (OpenAI-style, Retry-After); Fastify's own 503 has neither.
    return503OnClosing: false,
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
  registerUrlLengthGuard(app, ctx.config);
  decoratePrincipal(app);
  limitConnections(app, ctx.config);
  countResponses(app, ctx);

  const authenticator = Authenticator.create(ctx.config);
  await app.register(async (scope) => probeRoutes(scope, ctx));
  await app.register(async (scope) => clientApi(scope, ctx, authenticator));
  await app.register(async (scope) => webUiRoutes(scope, ctx));
  await app.register(async (scope) => metricsRoutes(scope, ctx));
  await app.register(async (scope) => adminRoutes(scope, ctx));
  return app;
}
