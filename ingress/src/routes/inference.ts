import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANY_PATH, gatewayError, QUEUE_UPDATES_HEADER, isDeniedEnginePost, isGatewayError, isIngressRoute, isPlainRoutePath, isSafeEnginePath, pathOf } from '@infergate/shared';
import { registerAuth, type Authenticator } from '../auth/index.js';
import type { IngressContext } from '../context.js';
import { registerCors } from '../cors/corsHooks.js';
import { estimatedCost } from '../fairness/costEstimate.js';
import { OPEN_TENANT, type FairTicket } from '../fairness/fairShare.js';
import { answerUnknownPath } from '../frameworkErrors.js';
import { Admission } from '../inference/admission.js';
import { ClientPresence } from '../inference/clientPresence.js';
import { inferenceJob } from '../inference/inferenceJob.js';
import { openRelay } from '../inference/relayWiring.js';
import { RequestTrace } from '../inference/requestTrace.js';
import { registerForwardTargetGuard } from '../limits/index.js';
import { routingFields } from '../requestBody.js';
import { engineReadRoutes } from './engineReads.js';
import { modelsRoute } from './health.js';
import { usageRoute } from './usage.js';

const EMPTY = Buffer.alloc(0);

/** What a request whose client left during admission is recorded as: nothing was queued or held. */
const CLIENT_LEFT = { status: 499, error: 'cancelled', bytes: 0, chunks: 0, stream: false } as const;

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Every inference route, streaming or not, OpenAI or engine-native, takes
 * this one path: read the routing fields, admit, queue the request
 * byte-for-byte, relay the engine's response as it arrives. Returns the
 * handler of the paths no route names, when FORWARD_PATHS has `any`.
 */
export async function inferenceRoutes(app: FastifyInstance, ctx: IngressContext): Promise<Handler | undefined> {
  const { config, registry, router } = ctx;
  const admission = new Admission(ctx);

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // The one check tracing costs a request when it is off.
    const trace = ctx.tracing && new RequestTrace(ctx.tracing, request);
    try {
      await queueAndRelay(request, reply, trace);
    } catch (err) {
      trace?.refused(err);
      throw err;
    }
  }

  async function queueAndRelay(request: FastifyRequest, reply: FastifyReply, trace: RequestTrace | undefined): Promise<void> {
    const client = new ClientPresence(reply);
    admission.refuseIfDraining();
    const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    const fields = routingFields(body);
    const model = registry.resolve(fields.model);
    trace?.model(model);
    const startedAt = Date.now();
    // The affinity lookup overlaps admission's round trips; it never rejects.
    const routing = ctx.lanes?.route(model, fields.parsed, request.headers, request.principal?.id);
    const release = await admission.admit(model, request.principal, request.id, client);
    if (release === undefined) {
      reply.hijack();
      trace?.refused('cancelled');
      ctx.onSettled(request, model, CLIENT_LEFT, Date.now() - startedAt);
      return;
    }
    const lane = (await routing) ?? {};
    let ticket: FairTicket | undefined;
    try {
      ticket = await fairTicket(ctx, request, model, body, fields.parsed);
    } catch (err) {
      release();
      throw gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err });
    }
    const priority = ticket?.priority ?? request.principal?.priority;
    const job = inferenceJob(request, body, { model, fields, replyTo: router.channel, enqueuedAt: Date.now(), affinity: lane.affinity, trace: trace?.admitted() }, config);
    const placement = ctx.lanes?.place(job, lane, priority, {
      lost: (err) => relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err })),
    });
    const queueUpdates = fields.stream && request.headers[QUEUE_UPDATES_HEADER] === '1';
    const relay = openRelay(ctx, request, reply, job, release, { placement, ticket, lane: lane.lane?.id, queueUpdates, trace });
    try {
      await (placement ? placement.enqueue() : ctx.jobs.enqueue(job, priority));
      ctx.queueDepths.added(model);
      relay.enqueued();
    } catch (err) {
      relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err }));
    }
  }

  // Resolved, and checked at start-up, by the config schema.
  for (const path of config.FORWARD_PATHS) if (path !== ANY_PATH) app.post(path, handle);
  return config.FORWARD_PATHS.includes(ANY_PATH) ? forwardAnyPost(ctx, handle) : undefined;
}

/**
 * The job's place in its tenant's fair share of its priority class (a key
 * or JWT tenant; everybody's one share on an open ingress), which is also
 * the BullMQ priority of its job. Undefined without fair queueing.
 */
async function fairTicket(ctx: IngressContext, request: FastifyRequest, model: string, body: Buffer, parsed: object | undefined): Promise<FairTicket | undefined> {
  if (!ctx.fair) return undefined;
  const { principal } = request;
  const tenant = principal ? { id: `${principal.kind}:${principal.id}`, weight: principal.weight, priority: principal.priority } : OPEN_TENANT;
  return ctx.fair.ticket(model, tenant, estimatedCost(body.length, parsed));
}

/**
 * FORWARD_PATHS=any: a POST no route names, on a path of plain segments,
 * is forwarded unless it is an
 * engine admin action, a UI helper or a path of the ingress itself, and as
 * long as it has a body that names a served model or there is a default
 * one, so a mistyped path with no body or no model is still a 404 of the
 * gateway. A served model on a path its engine lacks gets the engine's own
 * 404 (llama.cpp's `File Not Found`).
 */
function forwardAnyPost(ctx: IngressContext, handle: Handler): Handler {
  return async (request, reply) => {
    const forwardable =
      request.method === 'POST' &&
      isSafeEnginePath(request.url) &&
      isPlainRoutePath(request.url) &&
      !isIngressRoute(pathOf(request.url)) &&
      !isDeniedEnginePost(request.url, { uiHelpers: false }) &&
      routesToAModel(ctx, request);
    if (forwardable) await handle(request, reply);
    else answerUnknownPath(request, reply);
  };
}

function routesToAModel(ctx: IngressContext, request: FastifyRequest): boolean {
  const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
  // Every engine POST carries a body; one without is no inference request.
  if (body.length === 0) return false;
  try {
    ctx.registry.resolve(routingFields(body).model);
    return true;
  } catch (err) {
    // No model and no default: nothing says this is an inference request. Any other refusal is the handler's to give.
    return !(isGatewayError(err) && err.code === 'model_required');
  }
}

/**
 * The client API as one plugin with its own hooks: the forwarded target's
 * checks and the client credentials apply to these routes and to no other.
 * CORS comes before the credentials, so a preflight needs none.
 * It answers unknown paths too, through the same hooks: a hostile target is
 * refused as such, and a client without credentials learns no more than
 * that it needs some (and makes the ingress read no body).
 */
export async function clientApi(app: FastifyInstance, ctx: IngressContext, authenticator: Authenticator): Promise<void> {
  registerForwardTargetGuard(app);
  await registerCors(app, ctx.config.CORS_ORIGINS);
  registerAuth(app, authenticator);
  await modelsRoute(app, ctx);
  await usageRoute(app, ctx);
  await engineReadRoutes(app, ctx);
  const forwardAny = await inferenceRoutes(app, ctx);
  app.setNotFoundHandler(forwardAny ?? answerUnknownPath);
}
