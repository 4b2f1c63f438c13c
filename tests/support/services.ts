import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

/*
 * Runs infergate's own entry points as separate processes, the way Compose
 * and Kubernetes run them, from source through tsx.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = {
  ingress: 'ingress/src/main.ts',
  dispatcher: 'dispatcher/src/main.ts',
  sim: 'infra/sim/src/main.ts',
  stack: 'infra/stack/src/main.ts',
} as const;

export type ServiceName = keyof typeof ENTRY;

export interface Service {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startService(name: ServiceName, env: Record<string, string>, args: readonly string[] = []): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=development', join(ROOT, ENTRY[name]), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface IngressProcess extends Service {
  readonly url: string;
}

/** An ingress process on a free port, resolved once it answers /livez. */
export async function startIngressProcess(env: Record<string, string>): Promise<IngressProcess> {
  const port = await freePort();
  const service = startService('ingress', { PORT: String(port), HOST: '127.0.0.1', ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/livez`)).ok, 30_000, `ingress on ${port}\n${service.output()}`);
  return { ...service, url };
}

/** Waits until an ingress's /health lists at least `count` available engines. */
export async function waitForBackends(ingressUrl: string, count: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${ingressUrl}/health`);
      const body = (await res.json()) as { available_backends: string[] };
      return body.available_backends.length >= count;
    },
    timeoutMs,
    `${count} available backends at ${ingressUrl}`,
  );
}
