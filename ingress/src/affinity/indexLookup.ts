import { parseIndexHolders, type AffinityKeys, type RedisClient, type RedisNames } from '@infergate/shared';
import type { LookupReading } from './laneChoice.js';

export type LookupResult = { readonly reading: LookupReading } | { readonly failed: 'timeout' | 'error' };

/**
 * Reads the index entries of a request's keys and the depth of each lane of
 * its model in one pipelined round trip: every key carries the model's hash
 * tag, so on a Cluster it is one node's work. Bounded by `budgetMs`: past it,
 * the request goes on without affinity and the reply is dropped when it comes.
 */
export class IndexLookup {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly budgetMs: number,
  ) {}

  read(model: string, keys: AffinityKeys, lanes: readonly string[]): Promise<LookupResult> {
    const indexKeys = keys.chain.hashes.map((h) => this.names.affinityKey(model, 'b', h));
    if (keys.session !== undefined) indexKeys.push(this.names.affinityKey(model, 's', keys.session));
    const pipeline = this.redis.pipeline().mget(indexKeys);
    for (const id of lanes) {
      const lane = `${this.names.bullPrefix}:${this.names.laneQueueName(model, id)}`;
      pipeline.llen(`${lane}:wait`).zcard(`${lane}:prioritized`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<LookupResult>((resolve) => {
      // Timers run before the event loop reads its sockets: after a busy stretch longer than the budget,
      // the reply may be waiting unread. The deadline is judged after that read (the check phase), so
      // a lag of this process is not taken for a slow Redis.
      timer = setTimeout(() => setImmediate(() => resolve({ failed: 'timeout' })), this.budgetMs);
    });
    const answer = pipeline.exec().then(
      (results): LookupResult => {
        if (!results || results.some(([err]) => err !== null)) return { failed: 'error' };
        const values = results[0]![1] as (string | null)[];
        const laneWaiting = new Map<string, number>();
        lanes.forEach((id, i) => laneWaiting.set(id, Number(results[1 + 2 * i]![1]) + Number(results[2 + 2 * i]![1])));
        const blocks = values.slice(0, keys.chain.hashes.length).map(parseIndexHolders);
        const session = keys.session === undefined ? [] : parseIndexHolders(values[values.length - 1]);
        return { reading: { session, blocks, laneWaiting } };
      },
      (): LookupResult => ({ failed: 'error' }),
    );
    return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
  }
}
