import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '@infergate/sim';
import { startTestRedis, uniquePrefix, type TestRedis } from './redis.js';
import { startIngressProcess, startService, waitForBackends, type IngressProcess, type Service } from './services.js';

/*
 * A whole deployment for one test file: simulated engines in this process,
 * one dispatcher process per engine, ingress processes, one private Redis.
 */

export interface TestFleet {
  readonly redis: TestRedis;
  readonly prefix: string;
  readonly sims: SimulatorHandle[];
  readonly dispatchers: Service[];
  readonly ingresses: IngressProcess[];
  readonly env: Record<string, string>;
  /** Starts (or restarts) the dispatcher for engine `i`. */
  startDispatcher(i: number, env?: Record<string, string>): Service;
  stop(): Promise<void>;
}

export async function startTestFleet(options: {
  sims: ReadonlyArray<SimulatorOptions>;
  dispatcherEnv?: Record<string, string>;
  ingressEnv?: Record<string, string>;
  ingresses?: number;
  redis?: TestRedis;
}): Promise<TestFleet> {
  const redis = options.redis ?? (await startTestRedis());
  const prefix = uniquePrefix();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, HEARTBEAT_TTL_SECONDS: '3', METRICS_CACHE_TTL_SECONDS: '0.2' };
  const sims = await Promise.all(options.sims.map((o) => startSimulator(o)));
  const dispatchers: Service[] = [];
  const startDispatcher = (i: number, extra: Record<string, string> = {}) => {
    const d = startService('dispatcher', {
      ...env,
      ENGINE_URL: sims[i]!.url,
      DISPATCHER_ID: `d${i}`,
      STATUS_PORT: '0',
      ...options.dispatcherEnv,
      ...extra,
    });
    dispatchers[i] = d;
    return d;
  };
  sims.forEach((_, i) => startDispatcher(i));
  const ingresses = await Promise.all(
    Array.from({ length: options.ingresses ?? 1 }, () => startIngressProcess({ ...env, ...options.ingressEnv })),
  );
  await Promise.all(ingresses.map((ing) => waitForBackends(ing.url, sims.length)));
  return {
    redis,
    prefix,
    sims,
    dispatchers,
    ingresses,
    env,
    startDispatcher,
    async stop() {
      await Promise.all([...ingresses, ...dispatchers].map((s) => s.stop('SIGTERM')));
      await Promise.all(sims.map((s) => s.close()));
      if (!options.redis) await redis.stop();
    },
  };
}
