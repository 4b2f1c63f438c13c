import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  encodeBody,
  createPublisher,
  encodeControl,
  encodeJobFate,
  forwardableRequestHeaders,
  gatewayError,
  JOB_VERSION,
  type CancelReason,
  type InferenceJob,
} from '@infergate/shared';
import type { IngressContext } from '../context.js';
import { forwardPaths } from '../inferencePaths.js';
import { RequestRelay, type RelayOutcome } from '../requestRelay.js';
import { routingFields } from '../requestBody.js';

const EMPTY = Buffer.alloc(0);
/** Longer than any job can sit locked before stalled-job recovery returns it. */
const ABANDONED_FLAG_SECONDS = 3600;

/**
 * Every inference route, streaming or not, OpenAI or engine-native, takes
 * this one path: read the routing fields, queue the request byte-for-byte,
 * relay the engine's response as it arrives.
 */
export async function inferenceRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const { config, names, registry, router, commands } = ctx;

  // A running request is stopped by whichever dispatcher holds it; the flag
  // also stops a copy that stalled-job recovery would start again later
  // (dispatchers check it before re-running a job).
  const { publish } = createPublisher(commands);
  const publishCancel = (rid: string, reason: CancelReason) => {
    publish(names.controlChannel, encodeControl({ type: 'cancel', rid, reason })).catch(() => undefined);
    commands.set(names.jobFate(rid), encodeJobFate({ kind: 'abandoned' }), 'EX', ABANDONED_FLAG_SECONDS).catch(() => undefined);
  };

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (ctx.draining) throw gatewayError('shutting_down', undefined, { retryAfterSeconds: 1 });
    const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    const fields = routingFields(body);
    const model = registry.resolve(fields.model);
    if (config.MAX_QUEUED_PER_MODEL > 0) {
      const known = ctx.queueDepths.current(model);
      const depth = typeof known === 'number' ? known : await known;
      if (depth >= config.MAX_QUEUED_PER_MODEL) {
        throw gatewayError('queue_full', `The queue for model '${model}' is full (${depth} waiting).`, {
          retryAfterSeconds: ctx.drainRate.secondsToDrain(model, depth - config.MAX_QUEUED_PER_MODEL + 1) ?? 1,
        });
      }
    }
    const principal = request.principal;
    // The index lookup overlaps the limiter's round trip; it never rejects.
    const routing = ctx.lanes.route(model, fields.parsed, request.headers, principal?.id);
    const release = principal ? await ctx.limiter.acquire(principal, request.id) : undefined;
    const { affinity, ...lane } = await routing;
    const rid = request.id;
    const enqueuedAt = Date.now();
    const deadline = enqueuedAt + config.QUEUE_WAIT_TIMEOUT_SECONDS * 1000;
    const job: InferenceJob = {
      v: JOB_VERSION,
      rid,
      method: request.method,
      path: request.url,
      headers: forwardableRequestHeaders(request.headers, { conversationId: config.FORWARD_CONVERSATION_ID }),
      body: encodeBody(body),
      model,
      stream: fields.stream,
      deadline,
      replyTo: router.channel,
      enqueuedAt,
      ...(principal ? { keyId: principal.id } : {}),
      ...(affinity ? { affinity } : {}),
    };
    const placement = ctx.lanes.place(job, lane, principal?.priority, {
      lost: (err) => relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err })),
    });
    const dequeue = async () => {
      const removed = await placement.dequeue();
      if (removed) ctx.queueDepths.left(model);
      return removed;
    };
    reply.hijack();
    const relay = new RequestRelay(
      reply.raw,
      rid,
      {
        enqueuedAt,
        deadline,
        stallMs: config.RELAY_STALL_TIMEOUT_SECONDS * 1000,
        preHeadStallMs: config.ORPHAN_WAIT_SECONDS * 1000,
      },
      {
        dequeue,
        cancel: (reason) => {
          if (relay.currentPhase === 'queued') {
            void dequeue().then((removed) => removed || publishCancel(rid, reason));
          } else {
            publishCancel(rid, reason);
          }
        },
        started: () => {
          placement.started();
          ctx.drainRate.record(model);
          ctx.queueDepths.left(model);
        },
        retryAfterSeconds: () => Math.ceil(config.QUEUE_WAIT_TIMEOUT_SECONDS / 4),
        settled: (outcome: RelayOutcome) => {
          placement.close();
          release?.();
          router.remove(rid);
          ctx.onSettled(request, model, outcome, Date.now() - enqueuedAt);
        },
      },
    );
    router.add(rid, relay);
    try {
      await placement.enqueue();
      ctx.queueDepths.added(model);
    } catch (err) {
      relay.fail(gatewayError('redis_unavailable', undefined, { retryAfterSeconds: 1, cause: err }));
    }
  }

  for (const path of forwardPaths(config.FORWARD_PATHS)) app.post(path, handle);
}
