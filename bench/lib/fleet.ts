import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, provideRedis, spawnService, type RedisHandle, type ServiceName, type ServiceProcess } from '@infergate/stack';

/*
 * A whole infergate deployment on this machine, as separate processes:
 * Redis, simulated engines, one dispatcher per engine, ingress nodes.
 * A start that fails part-way stops whatever it had started.
 */

export interface EngineSpec {
  readonly slots: number;
  readonly ttftMs: number;
  readonly itlMs: number;
  readonly tokens: number;
  /** The model name the engine serves (default: the simulator's). */
  readonly model?: string;
  /** Prefill time per prompt token the engine does not hold in its prompt cache (default: the simulator's). */
  readonly prefillMsPerToken?: number;
}

export interface Fleet {
  /** The Redis the fleet started; undefined when it was given `redisEnv`. */
  readonly redis: RedisHandle | undefined;
  /** The redis-server process of `redis`, when it runs on this machine (not in a container). */
  readonly redisPid: number | undefined;
  readonly engineUrls: readonly string[];
  readonly ingressUrls: readonly string[];
  /** Each dispatcher's status server (its /metrics), in engine order. */
  readonly dispatcherStatusUrls: readonly string[];
  readonly processes: readonly ServiceProcess[];
  pidsOf(name: ServiceName): number[];
  stop(): Promise<void>;
}

async function waitOk(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops services in dependency order: clients of a service before the service. */
export async function stopServices(processes: readonly ServiceProcess[]): Promise<void> {
  for (const name of ['ingress', 'dispatcher', 'sim'] as const) {
    await Promise.all(processes.filter((p) => p.name === name).map((p) => p.stop('SIGTERM', 5_000)));
  }
}

/** Starts engines into `processes`, which the caller stops, also when this throws. */
export async function startSims(engines: readonly EngineSpec[], processes: ServiceProcess[]): Promise<string[]> {
  const urls: string[] = [];
  for (const e of engines) {
    const port = await freePort();
    // Counter text keeps every answer exactly `tokens` long, as the reports' timings assume.
    const args = ['--kind', 'llamacpp', '--port', String(port), '--slots', String(e.slots), '--ttft-ms', String(e.ttftMs), '--itl-ms', String(e.itlMs), '--tokens', String(e.tokens), '--text', 'counter', ...(e.model ? ['--model', e.model] : []), ...(e.prefillMsPerToken !== undefined ? ['--prefill-ms-per-token', String(e.prefillMsPerToken)] : [])];
    processes.push(spawnService('sim', { ...process.env, LOG_LEVEL: 'warn' }, { args, useBuild: true }));
    urls.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(urls.map((u) => waitOk(`${u}/health`)));
  return urls;
}

/** INFO names the server's pid; it is one of ours only if that pid is a redis-server on the URL's port here (not in a container). */
async function localRedisPid(url: string): Promise<number | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
    // redis-server retitles itself `redis-server 127.0.0.1:<port>`.
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return title.startsWith('redis-server') && title.includes(`:${new URL(url).port}`) ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

export async function startFleet(options: {
  engines: readonly EngineSpec[];
  ingressCount?: number;
  engineUrls?: readonly string[];
  env?: Record<string, string>;
  /** Where the fleet's Redis is (e.g. REDIS_CLUSTER_NODES); unset, the fleet starts its own. */
  redisEnv?: Record<string, string>;
  /** Settings of ingress `i` alone, e.g. its DEFAULT_MODEL. */
  ingressEnv?: (i: number) => Record<string, string>;
  nodeArgs?: readonly string[];
  /** The Node.js binary the dispatchers and ingresses run on (the benchmark's own by default). */
  node?: string;
}): Promise<Fleet> {
  const spawnOptions = { useBuild: true, ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}), ...(options.node ? { node: options.node } : {}) };
  const processes: ServiceProcess[] = [];
  const redis = options.redisEnv ? undefined : await provideRedis();
  const stop = async (): Promise<void> => {
    await stopServices(processes);
    await redis?.stop();
  };
  try {
    const engineUrls = options.engineUrls ?? (await startSims(options.engines, processes));
    const base = { ...process.env, ...(options.redisEnv ?? { REDIS_URL: redis!.url }), REDIS_PREFIX: 'bench', LOG_LEVEL: 'warn', ALLOW_OPEN_ACCESS: 'true', ...options.env };
    const dispatcherStatusUrls: string[] = [];
    for (const [i, url] of engineUrls.entries()) {
      const statusPort = await freePort();
      processes.push(spawnService('dispatcher', { ...base, ENGINE_URL: url, DISPATCHER_ID: `d${i + 1}`, STATUS_HOST: '127.0.0.1', STATUS_PORT: String(statusPort) }, spawnOptions));
      dispatcherStatusUrls.push(`http://127.0.0.1:${statusPort}`);
    }
    const ingressUrls: string[] = [];
    for (let i = 0; i < (options.ingressCount ?? 1); i++) {
      const port = await freePort();
      processes.push(spawnService('ingress', { ...base, PORT: String(port), HOST: '127.0.0.1', ALLOW_OPEN_ACCESS: 'true', UNKNOWN_MODEL: 'default', INGRESS_ID: `i${i + 1}`, ...options.ingressEnv?.(i) }, spawnOptions));
      ingressUrls.push(`http://127.0.0.1:${port}`);
    }
    for (const url of ingressUrls) {
      await waitOk(`${url}/livez`);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const health = (await (await fetch(`${url}/health`)).json()) as { available_backends: string[] };
        if (health.available_backends.length >= engineUrls.length) break;
        if (Date.now() > deadline) throw new Error('engines never became available');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      redis,
      redisPid: redis ? await localRedisPid(redis.url) : undefined,
      engineUrls,
      ingressUrls,
      dispatcherStatusUrls,
      processes,
      pidsOf: (name) => processes.filter((p) => p.name === name).map((p) => p.child.pid!),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
