import { authenticationConfigured, childEnvironment, loadConfig, loadConfigOrExit, type Env, type StackConfig } from '@infergate/shared';
import { freePort } from './ports.js';
import { NoRedisError, provideRedis, type RedisHandle } from './redisProvider.js';
import { spawnService, type ServiceName, type ServiceProcess } from './serviceProcess.js';
import { onStopSignals } from './stopSignals.js';

/*
 * `npm start`: a complete local stack in one process tree: Redis, one
 * dispatcher per engine in BACKENDS (or two simulated llama.cpp engines),
 * and one ingress on PORT. Ctrl-C stops everything, once and in order: each
 * service runs in a process group of its own, so the terminal's signal
 * reaches only this launcher, which stops the ingress, the dispatchers, the
 * engines and then Redis, each awaited.
 */

function say(message: string): void {
  process.stdout.write(`[stack] ${message}\n`);
}

function prefixed(label: string): (line: string) => void {
  return (line) => {
    if (line.length > 0) process.stdout.write(`[${label}] ${line}\n`);
  };
}

async function waitHttpOk(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Whether the ingress will demand credentials; a configuration it rejects is its own to report. */
function ingressAuthenticates(env: Env): boolean {
  try {
    return authenticationConfigured(loadConfig('ingress', env));
  } catch {
    return true;
  }
}

async function main(config: StackConfig): Promise<void> {
  const children: ServiceProcess[] = [];
  let redis: RedisHandle | undefined;
  let stopping = false;
  const stack = onStopSignals({
    graceMs: 40_000,
    stop: async (reason) => {
      stopping = true;
      say(`${reason}: stopping`);
      // The ingress first, so no request arrives at a dispatcher that is leaving; Redis last, so no dispatcher loses it.
      for (const name of ['ingress', 'dispatcher', 'sim'] as const) {
        await Promise.all(children.filter((c) => c.name === name).map((c) => c.stop('SIGTERM')));
      }
      await redis?.stop();
      say('stopped');
    },
    force: (reason) => {
      say(`${reason}: killing everything`);
      for (const c of children) c.child.kill('SIGKILL');
      void redis?.kill();
    },
  });
  const start = (name: ServiceName, label: string, env: Record<string, string>, args?: string[]) => {
    const child = spawnService(name, childEnvironment(env), { onLine: prefixed(label), useBuild: false, ownProcessGroup: true, ...(args ? { args } : {}) });
    children.push(child);
    void child.exited.then((code) => {
      if (!stopping) stack.trigger(`${label} exited (${code})`);
    });
    return child;
  };

  try {
    redis = await provideRedis(config.REDIS_URL ? { url: config.REDIS_URL } : { ownProcessGroup: true });
  } catch (err) {
    if (err instanceof NoRedisError) {
      say(err.message);
      process.exit(1);
    }
    throw err;
  }
  say(`redis: ${config.REDIS_URL ? config.REDIS_URL.replace(/\/\/[^@]*@/, '//***@') : `${redis.url} (started by the stack)`}`);

  let engines = config.BACKENDS;
  if (engines.length === 0) {
    engines = [];
    for (const n of [1, 2]) {
      const port = await freePort();
      start('sim', `sim-${n}`, {}, ['--kind', 'llamacpp', '--port', String(port), '--slots', String(config.SIM_SLOTS)]);
      engines.push(`http://127.0.0.1:${port}`);
    }
    say(`no BACKENDS set: running two SIMULATED llama.cpp engines (${config.SIM_SLOTS} slots each) at ${engines.join(', ')}`);
  }

  const shared = { REDIS_URL: redis.url, REDIS_PREFIX: config.REDIS_PREFIX, LOG_LEVEL: config.LOG_LEVEL };
  engines.forEach((url, i) =>
    start('dispatcher', `dispatcher-${i + 1}`, { ...shared, ENGINE_URL: url, DISPATCHER_ID: `dispatcher-${i + 1}`, STATUS_PORT: '0' }),
  );
  const ingressEnv = { ...shared, PORT: String(config.PORT), HOST: config.HOST, INGRESS_ID: 'ingress-1', UNKNOWN_MODEL: config.UNKNOWN_MODEL };
  // A production ingress refuses to run without keys; the local stack may, and says so.
  const open = config.OPEN_ACCESS && !ingressAuthenticates(childEnvironment(ingressEnv));
  if (open) say(`OPEN ACCESS: no API keys configured, so anyone who can reach ${config.HOST}:${config.PORT} is served (set API_KEYS to require a key)`);
  start('ingress', 'ingress', { ...ingressEnv, ...(open ? { ALLOW_OPEN_ACCESS: 'true' } : {}) });
  const base = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
  if (await waitHttpOk(`${base}/health`, 60_000)) {
    say(`ready: ${base}  (try: curl -N ${base}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"any","stream":true,"messages":[{"role":"user","content":"hi"}]}')`);
  } else if (!stopping) {
    say(`the ingress at ${base} did not report a ready engine within 60 s; still waiting`);
  }
}

await main(loadConfigOrExit('stack', 'stack'));
