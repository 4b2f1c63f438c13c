import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InferenceJob } from '@infergate/shared';
import type { Placement } from '../affinity/lanePlacement.js';
import type { IngressContext } from '../context.js';
import { RequestRelay, type RelayOutcome } from '../requestRelay.js';
import type { Release } from './admission.js';
import { cancelRequest } from './cancelPolicy.js';
import type { RequestTrace } from './requestTrace.js';

type RelayContext = Pick<IngressContext, 'config' | 'router' | 'jobs' | 'cancels' | 'failures' | 'queueDepths' | 'drainRate' | 'onSettled'>;

/**
 * Takes over the response of an admitted request and connects its relay:
 * frames from the reply router, the job's removal and cancellation, the
 * queue bookkeeping when it starts, the slot given back when it settles.
 * With a `placement` (cache affinity), the job is removed wherever it waits,
 * lane or shared queue, and no steal follows a request that is over.
 * With a `trace`, the relay's span begins and ends with it.
 */
export function openRelay(
  ctx: RelayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  job: InferenceJob,
  release: Release,
  placement?: Placement,
  trace?: RequestTrace,
): RequestRelay {
  const { config, router } = ctx;
  const { rid, model, enqueuedAt } = job;
  const dequeue = async () => {
    const removed = await (placement ? placement.dequeue() : ctx.jobs.removeWaiting(model, rid));
    if (removed) ctx.queueDepths.left(model);
    return removed;
  };
  reply.hijack();
  const relay = new RequestRelay(
    reply.raw,
    rid,
    {
      enqueuedAt,
      deadline: job.deadline,
      stallMs: config.RELAY_STALL_TIMEOUT_SECONDS * 1000,
      preHeadStallMs: config.ORPHAN_WAIT_SECONDS * 1000,
    },
    {
      dequeue,
      cancel: (reason, phase) => cancelRequest(rid, reason, phase, dequeue, ctx.cancels, ctx.failures),
      started: () => {
        placement?.started();
        trace?.started();
        ctx.drainRate.record(model);
        ctx.queueDepths.left(model);
      },
      retryAfterSeconds: () => Math.ceil(config.QUEUE_WAIT_TIMEOUT_SECONDS / 4),
      settled: (outcome: RelayOutcome) => {
        placement?.close();
        trace?.settled(outcome, enqueuedAt);
        release();
        router.remove(rid);
        ctx.onSettled(request, model, outcome, Date.now() - enqueuedAt);
      },
    },
  );
  router.add(rid, relay);
  return relay;
}
