import type { RedisClient } from '@infergate/shared';
import type { InternalFailures } from './internalFailures.js';

/**
 * Makes a Redis connection's trouble visible: ioredis emits an error on
 * every reconnect attempt, so each is counted and the first of an outage
 * logged; the connection becoming ready again ends the outage.
 */
export function watchRedisConnection(client: RedisClient, connection: string, failures: InternalFailures): void {
  client.on('error', (err: Error) => failures.report('redis_connection', err, { connection }));
  client.on('ready', () => failures.recovered());
}
