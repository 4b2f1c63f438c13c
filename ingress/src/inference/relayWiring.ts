import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InferenceJob } from '@infergate/shared';
import type { Placement } from '../affinity/lanePlacement.js';
import type { IngressContext } from '../context.js';
import { servedTokens } from '../fairness/costEstimate.js';
import { msUntilStarted, retryAfterSeconds } from '../fairness/eta.js';
import type { FairTicket } from '../fairness/fairShare.js';
import { QueueUpdates } from '../fairness/queueUpdates.js';
import { RequestRelay, type RelayOutcome } from '../requestRelay.js';
import type { Release } from './admission.js';
import { cancelRequest } from './cancelPolicy.js';
import type { RequestTrace } from './requestTrace.js';

type RelayContext = Pick<IngressContext, 'config' | 'router' | 'jobs' | 'cancels' | 'failures' | 'queueDepths' | 'drainRate' | 'fair' | 'onSettled'>;

/** Where the job waits and its fair share; all absent for a plain shared-queue job without fair queueing. */
export interface JobPlace {
  /** Cache affinity: the job is removed wherever it waits, lane or shared queue, and no steal follows a request that is over. */
  readonly placement?: Placement | undefined;
  /** The affinity lane it was placed in. */
  readonly lane?: string | undefined;
  readonly ticket?: FairTicket | undefined;
  /** The client asked for queue position updates (and streams). */
  readonly queueUpdates?: boolean;
  readonly trace?: RequestTrace | undefined;
}

/**
 * Takes over the response of an admitted request and connects its relay:
 * frames from the reply router, the job's removal and cancellation, the
 * queue bookkeeping when it starts (the fair share's clock among it), the
 * slot given back and the tokens charged to its share when it settles.
 * With a `trace`, the relay's span begins and ends with it.
 */
export function openRelay(
  ctx: RelayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  job: InferenceJob,
  release: Release,
  place: JobPlace = {},
): RequestRelay {
  const { config, router, fair } = ctx;
  const { placement, ticket, lane, trace } = place;
  const { rid, model, enqueuedAt } = job;
  const dequeue = async () => {
    const removed = await (placement ? placement.dequeue() : ctx.jobs.removeWaiting(model, rid));
    if (removed) ctx.queueDepths.left(model);
    return removed;
  };
  const position = async () => (fair ? fair.position(model, rid, lane) : undefined);
  reply.hijack();
  const updates =
    place.queueUpdates && fair
      ? new QueueUpdates(
          reply.raw,
          async () => {
            const at = await position();
            return at === undefined ? undefined : { position: at, etaMs: await msUntilStarted(ctx, model, at) };
          },
          (err) => ctx.failures.report('queue_position', err, 'queue position not read', { rid }),
        )
      : undefined;
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
        if (fair && ticket) {
          void fair.started(model, ticket);
          fair.metrics.started(model, ticket, Date.now() - enqueuedAt);
        }
      },
      // Where the job stood when its wait ran out, at the fleet's drain rate; without a rate, a quarter of the wait.
      retryAfterSeconds: async () => {
        const at = await position();
        return (at === undefined ? undefined : await retryAfterSeconds(ctx, model, at)) ?? Math.ceil(config.QUEUE_WAIT_TIMEOUT_SECONDS / 4);
      },
      settled: (outcome: RelayOutcome) => {
        placement?.close();
        trace?.settled(outcome, enqueuedAt);
        release();
        router.remove(rid);
        if (fair && ticket) void fair.settled(model, ticket, servedTokens(outcome.usage));
        ctx.onSettled(request, model, outcome, Date.now() - enqueuedAt);
      },
    },
    updates,
  );
  router.add(rid, relay);
  updates?.open(rid);
  return relay;
}
