import type { FastifyInstance } from 'fastify';
import { QueueInspector } from '@infergate/shared';
import { adminApi } from '../admin/adminApi.js';
import { AdminKey } from '../admin/adminKey.js';
import type { IngressContext } from '../context.js';
import { answerUnknownPath } from '../frameworkErrors.js';

/**
 * The operator surface: the JSON API under `/admin/api` and the queue UI under
 * `/admin/queues`, each in its own scope with the admin-key hook, so the hook
 * never reaches the inference routes. Without ADMIN_API_KEY none of it is
 * registered and every `/admin` path is a plain 404.
 */
export async function adminRoutes(app: FastifyInstance, ctx: IngressContext): Promise<void> {
  const key = ctx.config.ADMIN_API_KEY;
  const operator = ctx.operator;
  if (key === undefined || operator === undefined) return;
  const adminKey = new AdminKey(key);
  const inspector = new QueueInspector(operator.commands, (model, lane) => operator.queue(model, lane), ctx.names.laneSet);
  // Loaded only when the UI is served: bull-board and its view engine take about a second to import.
  const { QUEUE_BOARD_PATH, queueBoard } = await import('../admin/queueBoard.js');
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', adminKey.guard());
      // Behind the admin key, not the client API's credentials: an operator's typo is a 404.
      scope.setNotFoundHandler(answerUnknownPath);
      await adminApi(scope, ctx, operator, inspector);
    },
    { prefix: '/admin/api' },
  );
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', adminKey.guard('infergate admin'));
      await queueBoard(scope, ctx, operator);
    },
    { prefix: QUEUE_BOARD_PATH },
  );
}
