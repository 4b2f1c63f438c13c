import type { FastifyReply, FastifyRequest } from 'fastify';
import { encodeBody, forwardableRequestHeaders, gatewayError, JOB_VERSION, type Frame, type GatewayError, type InferenceJob } from '@infergate/shared';
import type { IngressContext } from '../context.js';
import { RequestRelay } from '../requestRelay.js';
import { readTargets } from './readTargets.js';

/** Dispatchers asked before the client gets a 504: the chosen one, and another once. */
const MAX_ATTEMPTS = 2;

type ReadContext = Pick<IngressContext, 'config' | 'registry' | 'router' | 'cancels' | 'engineReads' | 'failures' | 'onSettled'>;

/**
 * Passes one engine read (GET /props, /slots, the web UI…) to a dispatcher
 * of the model, which forwards it to its engine outside the queue and the
 * capacity gate, and relays the answer like any response. A dispatcher
 * that does not start answering within ENGINE_READ_TIMEOUT_SECONDS (or that
 * nobody listens for) is given up on and another is asked, once; then the
 * client gets a 504, or a 503 when no dispatcher serves the model.
 *
 * `model`: the model the read is about, or undefined for any dispatcher.
 */
export function relayEngineRead(ctx: ReadContext, request: FastifyRequest, reply: FastifyReply, model: string | undefined): void {
  const { config, router } = ctx;
  const targets = readTargets(ctx.registry.live, model).slice(0, MAX_ATTEMPTS);
  if (targets.length === 0) throw gatewayError('no_capacity', model === undefined ? 'No engine is available.' : `No engine is available for the model '${model}'.`);
  const startedAt = Date.now();
  const timeoutMs = config.ENGINE_READ_TIMEOUT_SECONDS * 1000;
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  let attempt = 0;
  let attemptRid = '';
  let answered = false;
  let attemptTimer: NodeJS.Timeout | undefined;

  reply.hijack();
  const relay = new RequestRelay(
    reply.raw,
    request.id,
    // The attempts' own timers end the wait first; the relay's deadline only bounds them.
    { enqueuedAt: startedAt, deadline: startedAt + MAX_ATTEMPTS * timeoutMs + 1000, stallMs: config.RELAY_STALL_TIMEOUT_SECONDS * 1000, preHeadStallMs: timeoutMs },
    {
      // Nothing is queued: there is nothing to remove.
      dequeue: () => Promise.resolve(false),
      cancel: (reason) => ctx.cancels.publishCancel(attemptRid, reason),
      started: () => undefined,
      retryAfterSeconds: async () => undefined,
      settled: (outcome) => {
        clearTimeout(attemptTimer);
        router.remove(attemptRid);
        ctx.onSettled(request, model ?? '', outcome, Date.now() - startedAt);
      },
    },
  );
  // Frames of the current attempt only: a late answer of a given-up one is not this response.
  const sinkFor = (rid: string) => ({
    onFrame: (frame: Frame) => {
      if (rid !== attemptRid) return;
      answered = true;
      clearTimeout(attemptTimer);
      relay.onFrame(frame);
    },
    abandon: (err: GatewayError) => relay.abandon(err),
  });

  const next = (): void => {
    if (attemptRid !== '') router.remove(attemptRid);
    const target = targets[attempt];
    if (target === undefined || relay.currentPhase === 'done') {
      relay.fail(gatewayError('dispatcher_silent'));
      return;
    }
    const rid = attempt === 0 ? request.id : `${request.id}.${attempt}`;
    attemptRid = rid;
    attempt++;
    const job: InferenceJob = {
      v: JOB_VERSION,
      rid,
      method: request.method,
      path: request.url,
      headers: forwardableRequestHeaders(request.headers, { conversationId: false }),
      body: encodeBody(body ?? Buffer.alloc(0)),
      model: model ?? '',
      stream: false,
      deadline: Date.now() + timeoutMs,
      replyTo: router.channel,
      enqueuedAt: Date.now(),
      ...(request.principal ? { keyId: request.principal.id } : {}),
    };
    router.add(rid, sinkFor(rid));
    attemptTimer = setTimeout(() => giveUp(rid), timeoutMs);
    ctx.engineReads.send(target.id, job).then(
      (heard) => {
        if (!heard) giveUp(rid);
      },
      (err: unknown) => {
        ctx.failures.report('engine_read_send', err, 'engine read not sent to its dispatcher; asking another', { rid });
        giveUp(rid);
      },
    );
  };
  /** Gives up on attempt `rid` unless it answered or another attempt has replaced it. */
  const giveUp = (rid: string): void => {
    if (rid !== attemptRid || answered || relay.currentPhase === 'done') return;
    clearTimeout(attemptTimer);
    next();
  };
  next();
}
