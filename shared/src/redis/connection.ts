import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { CommonConfig } from '../config/index.js';

/**
 * What a connection is used for decides how it fails:
 * - `command`: request-path commands (enqueue, publish); fail fast while
 *   Redis is away so a client gets an error instead of waiting forever.
 * - `blocking`: BullMQ worker connections; BullMQ requires unlimited retries.
 * - `subscriber`: pub/sub; reconnects and re-subscribes by itself.
 */
export type ConnectionRole = 'command' | 'blocking' | 'subscriber';

/** A connection to whichever Redis deployment the configuration names. */
export type RedisClient = Redis | Cluster;

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface RedisCredentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

export type RedisTarget =
  | { readonly form: 'single'; readonly url: string; readonly credentials: RedisCredentials; readonly tls: boolean }
  | {
      readonly form: 'sentinel';
      readonly sentinels: readonly RedisEndpoint[];
      readonly master: string;
      readonly sentinelCredentials: RedisCredentials;
      readonly credentials: RedisCredentials;
      readonly db: number;
      readonly tls: boolean;
    }
  | { readonly form: 'cluster'; readonly nodes: readonly RedisEndpoint[]; readonly credentials: RedisCredentials; readonly tls: boolean };

type RedisSettings = Pick<
  CommonConfig,
  | 'REDIS_URL'
  | 'REDIS_SENTINELS'
  | 'REDIS_SENTINEL_MASTER'
  | 'REDIS_SENTINEL_USERNAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_CLUSTER_NODES'
  | 'REDIS_USERNAME'
  | 'REDIS_PASSWORD'
  | 'REDIS_TLS'
>;

/** The deployment form the (already validated) configuration chose. */
export function redisTarget(config: RedisSettings): RedisTarget {
  const url = new URL(config.REDIS_URL);
  const credentials = {
    username: config.REDIS_USERNAME ?? (url.username ? decodeURIComponent(url.username) : undefined),
    password: config.REDIS_PASSWORD ?? (url.password ? decodeURIComponent(url.password) : undefined),
  };
  const tls = config.REDIS_TLS || url.protocol === 'rediss:';
  if (config.REDIS_CLUSTER_NODES) return { form: 'cluster', nodes: config.REDIS_CLUSTER_NODES, credentials, tls };
  if (config.REDIS_SENTINELS) {
    return {
      form: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      master: config.REDIS_SENTINEL_MASTER!,
      sentinelCredentials: { username: config.REDIS_SENTINEL_USERNAME, password: config.REDIS_SENTINEL_PASSWORD },
      credentials,
      db: databaseOf(url),
      tls,
    };
  }
  return { form: 'single', url: config.REDIS_URL, credentials, tls };
}

/** Every secret a target holds, for log redaction. */
export function redisSecrets(target: RedisTarget): string[] {
  const secrets = [target.credentials.password];
  if (target.form === 'sentinel') secrets.push(target.sentinelCredentials.password);
  return secrets.filter((s): s is string => s !== undefined);
}

const RETRY_CAP_MS = 2_000;
// Reconnect quickly after a Redis restart or failover; the default backoff
// can leave a node idle for seconds after Redis is already back.
const retryStrategy = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), RETRY_CAP_MS);

function databaseOf(url: URL): number {
  return url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
}

/*
 * No auto-pipelining on command connections: relay frames are already
 * batched into one PUBLISH per channel per event-loop turn (frameChannel),
 * and per-request commands are few, so its per-command pipeline objects and
 * extra loop turn cost more than the writes they save (measured: 6-10 % less
 * CPU per request without it, the same relay capacity).
 */
function roleOptions(role: ConnectionRole): RedisOptions {
  return role === 'command' ? { maxRetriesPerRequest: 1, enableOfflineQueue: false } : { maxRetriesPerRequest: null };
}

function credentialOptions({ username, password }: RedisCredentials): RedisOptions {
  return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/** Options of one server connection: the single server, or the master a Sentinel names. */
function serverOptions(target: Exclude<RedisTarget, { form: 'cluster' }>, role: ConnectionRole, name: string): RedisOptions {
  const common: RedisOptions = {
    connectionName: name,
    retryStrategy,
    lazyConnect: false,
    ...credentialOptions(target.credentials),
    ...roleOptions(role),
  };
  if (target.form === 'single') {
    const url = new URL(target.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return {
      ...common,
      host,
      port: url.port ? Number(url.port) : 6379,
      db: databaseOf(url),
      ...(target.tls ? { tls: { servername: host } } : {}),
    };
  }
  return {
    ...common,
    sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
    name: target.master,
    db: target.db,
    ...(target.sentinelCredentials.username === undefined ? {} : { sentinelUsername: target.sentinelCredentials.username }),
    ...(target.sentinelCredentials.password === undefined ? {} : { sentinelPassword: target.sentinelCredentials.password }),
    sentinelRetryStrategy: retryStrategy,
    // A demoted master that is still up keeps its clients but refuses writes:
    // reconnecting asks the sentinels for the new one. (ioredis's
    // failoverDetector does this sooner, but its disconnect can land during a
    // reconnect and end the client for good.)
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
  };
}

function clusterOptions(target: Extract<RedisTarget, { form: 'cluster' }>, role: ConnectionRole, name: string): ClusterOptions {
  const { enableOfflineQueue, ...perNode } = roleOptions(role);
  return {
    redisOptions: { connectionName: name, ...credentialOptions(target.credentials), ...perNode, ...(target.tls ? { tls: {} } : {}) },
    clusterRetryStrategy: retryStrategy,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // Reply and control channels are hash-tagged: SSUBSCRIBE/SPUBLISH keep
    // each channel's traffic on its own shard instead of every node.
    shardedSubscribers: role === 'subscriber',
  };
}

function clusterNodes(target: Extract<RedisTarget, { form: 'cluster' }>): Array<{ host: string; port: number }> {
  return target.nodes.map(({ host, port }) => ({ host, port }));
}

export function createRedis(target: RedisTarget, role: ConnectionRole, name: string): RedisClient {
  return target.form === 'cluster'
    ? new Cluster(clusterNodes(target), clusterOptions(target, role, name))
    : new Redis(serverOptions(target, role, name));
}

/**
 * The `connection` of a BullMQ Worker. BullMQ builds a server connection
 * from options itself, but can only make Cluster connections by duplicating
 * a Cluster instance: this one is a template that never connects.
 */
export function workerConnection(target: RedisTarget, name: string): RedisOptions | Cluster {
  return target.form === 'cluster'
    ? new Cluster(clusterNodes(target), { ...clusterOptions(target, 'blocking', name), lazyConnect: true })
    : serverOptions(target, 'blocking', name);
}

/** Redis's answers to bad credentials; retrying cannot fix them. They never quote the password. */
const REFUSED_CREDENTIALS = /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR (invalid password|AUTH)/;

/**
 * Resolves once the connection is ready. Rejects at once when Redis refuses
 * the configured credentials, else after `timeoutMs`, naming the last error.
 */
export async function waitReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      lastError = err.message;
      if (!REFUSED_CREDENTIALS.test(err.message)) return;
      cleanup();
      reject(new Error(`Redis refused the configured user name or password: ${err.message}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
    };
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}
