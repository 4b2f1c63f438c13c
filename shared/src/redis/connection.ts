import { Redis, type RedisOptions } from 'ioredis';

/**
 * What a connection is used for decides how it fails:
 * - `command`: request-path commands (enqueue, publish); fail fast while
 *   Redis is away so a client gets an error instead of waiting forever.
 * - `blocking`: BullMQ worker connections; BullMQ requires unlimited retries.
 * - `subscriber`: pub/sub; reconnects and re-subscribes by itself.
 */
export type ConnectionRole = 'command' | 'blocking' | 'subscriber';

export interface RedisTarget {
  readonly url: string;
}

const RETRY_CAP_MS = 2_000;

export function redisOptions(target: RedisTarget, role: ConnectionRole, name: string): RedisOptions {
  const url = new URL(target.url);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    connectionName: name,
    // Reconnect quickly after a Redis restart; the default backoff can leave
    // a node idle for seconds after Redis is already back.
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), RETRY_CAP_MS),
    lazyConnect: false,
  };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = { servername: url.hostname };
  if (role === 'command') {
    options.maxRetriesPerRequest = 1;
    options.enableOfflineQueue = false;
    options.enableAutoPipelining = true;
  } else {
    options.maxRetriesPerRequest = null;
  }
  return options;
}

export function createRedis(target: RedisTarget, role: ConnectionRole, name: string): Redis {
  return new Redis(redisOptions(target, role, name));
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
