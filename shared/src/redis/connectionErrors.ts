import type { InternalFailures } from '../observability/internalFailures.js';
import type { RedisClient } from './connection.js';

/**
 * Makes a Redis connection's trouble visible at the default log level:
 * ioredis emits an error on every reconnect attempt for as long as Redis is
 * away, so each is counted and the first of an outage logged; the
 * connection becoming ready again ends the outage of every operation.
 */
export function watchRedisConnection(client: RedisClient, connection: string, failures: Pick<InternalFailures<'redis_connection'>, 'report' | 'recovered'>): void {
  client.on('error', (err: Error) => failures.report('redis_connection', err, 'redis connection error', { connection }));
  client.on('ready', () => failures.recovered());
}
