import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { isInferenceJob } from '@infergate/shared';
import type { IngressContext, OperatorAccess } from '../context.js';

/** Where the queue UI lives; its plugin must be registered under this prefix. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * bull-board over the model queues the registry knows. It is read-only: a job
 * removed from here would leave its client waiting out the queue timeout,
 * while the admin API's cancel tells the client at once. Job data is reduced
 * to routing metadata, so the UI never shows a prompt.
 */
export async function queueBoard(app: FastifyInstance, ctx: IngressContext, operator: OperatorAccess): Promise<void> {
  const serverAdapter = new FastifyAdapter().setBasePath(QUEUE_BOARD_PATH);
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: 'infergate' } } });
  let shown: string | undefined;
  // Dispatchers announce models at any time; the board catches up on its next request.
  // Lanes come and go with dispatchers: the live ones of each model are shown beside it.
  app.addHook('onRequest', async () => {
    const models = [...ctx.registry.knownModels].sort();
    const boards = models.flatMap((model) => [
      { queue: operator.queue(model), name: model, description: `model ${model}` },
      ...(ctx.lanes?.laneOwners(model) ?? []).sort().map((owner) => ({
        queue: operator.queue(model, owner),
        name: `${model} lane ${owner}`,
        description: `jobs of model ${model} waiting for the cache of dispatcher ${owner}`,
      })),
    ]);
    const key = boards.map((b) => b.name).join('\n');
    if (key === shown) return;
    shown = key;
    board.replaceQueues(boards.map((b) => boardQueue(b.queue, b.name, b.description)));
  });
  await app.register(serverAdapter.registerPlugin());
}

function boardQueue(queue: Queue, displayName: string, description: string): BullMQAdapter {
  const adapter = new BullMQAdapter(queue, { readOnlyMode: true, displayName, description });
  adapter.setFormatter('data', (data: unknown) =>
    isInferenceJob(data)
      ? { rid: data.rid, model: data.model, method: data.method, path: data.path.split('?')[0], stream: data.stream, enqueuedAt: new Date(data.enqueuedAt).toISOString(), deadline: new Date(data.deadline).toISOString() }
      : { note: 'not an infergate job of this version' },
  );
  return adapter;
}
