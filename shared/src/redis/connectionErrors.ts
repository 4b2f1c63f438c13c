import type { Logger } from '../logger.js';
import { ErrorEpisode } from '../observability/internalFailures.js';
import type { RedisClient } from './connection.js';

/**
 * Makes a connection's errors visible at the default log level without a
 * line per reconnect attempt: ioredis emits an error for every failed
 * attempt for as long as Redis is away. The first is logged, then the
 * reconnection (see {@link ErrorEpisode}).
 */
export function logConnectionErrors(client: RedisClient, logger: Logger, connection: string): void {
  const episode = new ErrorEpisode(logger, 'redis connection error', { connection }, 'redis reconnected');
  client.on('error', (err: Error) => episode.error(err));
  client.on('ready', () => episode.recovered());
}
