import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { gatewayError } from '@infergate/shared';
import { registerAuth, type Authenticator } from '../auth/index.js';
import type { IngressContext } from '../context.js';
import { answerUnknownPath } from '../frameworkErrors.js';
import { Admission } from '../inference/admission.js';
import { ClientPresence } from '../inference/clientPresence.js';
import { inferenceJob } from '../inference/inferenceJob.js';
import { openRelay } from '../inference/relayWiring.js';
import { registerForwardTargetGuard } from '../limits/index.js';
import { routingFields } from '../requestBody.js';
import { modelsRoute } from './health.js';

const EMPTY = Buffer.alloc(0);

/** What a request whose client left during admission is recorded as: nothing was queued or held. */
const CLIENT_LEFT = { status: 499, error: 'cancelled', bytes: 0, chunks: 0, stream: false } as const;

/**
 * Every inference route, streaming or not, OpenAI or engine-native, takes
 * this one path: read the routing fields, admit, queue the request
 * byte-for-byte, relay the engine's response as it arrives.
 */
export async function inferenceRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const { config, registry, router } = ctx;
  const admission = new Admission(ctx);

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const client = new ClientPresence(reply);
    admission.refuseIfDraining();
    const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    const fields = routingFields(body);
    const model = registry.resolve(fields.model);
    const startedAt = Date.now();
    // The affinity lookup overlaps admission's round trips; it never rejects.
    const routing = ctx.lanes?.route(model, fields.parsed, request.headers, request.principal?.id);
    const release = await admission.admit(model, request.principal, request.id, client);
    if (release === undefined) {
      reply.hijack();
      ctx.onSettled(request, model, CLIENT_LEFT, Date.now() - startedAt);
      return;
    }
    const lane = (await routing) ?? {};
    const job = inferenceJob(request, body, { model, fields, replyTo: router.channel, enqueuedAt: Date.now(), affinity: lane.affinity }, config);
    const placement = ctx.lanes?.place(job, lane, request.principal?.priority, {
      lost: (err) => relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err })),
    });
    const relay = openRelay(ctx, request, reply, job, release, placement);
    try {
      await (placement ? placement.enqueue() : ctx.jobs.enqueue(job, request.principal?.priority));
      ctx.queueDepths.added(model);
    } catch (err) {
      relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err }));
    }
  }

  // Resolved, and checked at start-up, by the config schema.
  for (const path of config.FORWARD_PATHS) app.post(path, handle);
}

/**
 * The client API as one plugin with its own hooks: the forwarded target's
 * checks and the client credentials apply to these routes and to no other.
 * It answers unknown paths too, through the same hooks: a hostile target is
 * refused as such, and a client without credentials learns no more than
 * that it needs some (and makes the ingress read no body).
 */
export async function clientApi(app: FastifyInstance, ctx: IngressContext, authenticator: Authenticator): Promise<void> {
  registerForwardTargetGuard(app);
  registerAuth(app, authenticator);
  app.setNotFoundHandler(answerUnknownPath);
  await modelsRoute(app, ctx);
  await inferenceRoutes(app, ctx);
}
