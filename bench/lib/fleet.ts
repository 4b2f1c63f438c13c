import { freePort, provideRedis, spawnService, type RedisHandle, type ServiceName, type ServiceProcess } from '@infergate/stack';

/*
 * A whole infergate deployment on this machine, as separate processes:
 * Redis, simulated engines, one dispatcher per engine, ingress nodes.
 */

export interface EngineSpec {
  readonly slots: number;
  readonly ttftMs: number;
  readonly itlMs: number;
  readonly tokens: number;
}

export interface Fleet {
  readonly redis: RedisHandle;
  readonly engineUrls: readonly string[];
  readonly ingressUrls: readonly string[];
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

export async function startSims(engines: readonly EngineSpec[], processes: ServiceProcess[]): Promise<string[]> {
  const urls: string[] = [];
  for (const e of engines) {
    const port = await freePort();
    const args = ['--kind', 'llamacpp', '--port', String(port), '--slots', String(e.slots), '--ttft-ms', String(e.ttftMs), '--itl-ms', String(e.itlMs), '--tokens', String(e.tokens)];
    processes.push(spawnService('sim', { ...process.env, LOG_LEVEL: 'warn' }, { args, useBuild: true }));
    urls.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(urls.map((u) => waitOk(`${u}/health`)));
  return urls;
}

export async function startFleet(options: {
  engines: readonly EngineSpec[];
  ingressCount?: number;
  engineUrls?: readonly string[];
  env?: Record<string, string>;
  nodeArgs?: readonly string[];
}): Promise<Fleet> {
  const spawnOptions = { useBuild: true, ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}) };
  const processes: ServiceProcess[] = [];
  const redis = await provideRedis();
  const engineUrls = options.engineUrls ?? (await startSims(options.engines, processes));
  const base = { ...process.env, REDIS_URL: redis.url, REDIS_PREFIX: 'bench', LOG_LEVEL: 'warn', ...options.env };
  engineUrls.forEach((url, i) =>
    processes.push(spawnService('dispatcher', { ...base, ENGINE_URL: url, DISPATCHER_ID: `d${i + 1}`, STATUS_PORT: '0' }, spawnOptions)),
  );
  const ingressUrls: string[] = [];
  for (let i = 0; i < (options.ingressCount ?? 1); i++) {
    const port = await freePort();
    processes.push(spawnService('ingress', { ...base, PORT: String(port), HOST: '127.0.0.1', UNKNOWN_MODEL: 'default', INGRESS_ID: `i${i + 1}` }, spawnOptions));
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
    engineUrls,
    ingressUrls,
    processes,
    pidsOf: (name) => processes.filter((p) => p.name === name).map((p) => p.child.pid!),
    async stop() {
      for (const name of ['ingress', 'dispatcher', 'sim'] as const) {
        await Promise.all(processes.filter((p) => p.name === name).map((p) => p.stop('SIGTERM', 5_000)));
      }
      await redis.stop();
    },
  };
}
