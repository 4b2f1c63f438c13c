import { freePort, spawnService, type ServiceName, type ServiceProcess } from '@infergate/stack';

export type Service = ServiceProcess;

/** One of infergate's entry points as a separate process, quiet unless it warns. */
export function startService(name: ServiceName, env: Record<string, string>, args: readonly string[] = []): Service {
  return spawnService(name, { ...process.env, LOG_LEVEL: 'warn', ...env }, { args });
}

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes. It
 * gives up only after a check that began past the deadline: one that began
 * before it and came back late (a stalled machine) says nothing about now.
 */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const late = Date.now() > deadline;
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (late) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface IngressProcess extends Service {
  readonly url: string;
}

/** An ingress process on a free port, resolved once it answers /livez. */
export async function startIngressProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<IngressProcess> {
  const port = await freePort();
  // Tests run open unless they configure keys; those that test auth set their own.
  const service = startService('ingress', { PORT: String(port), HOST: '127.0.0.1', ALLOW_OPEN_ACCESS: 'true', ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/livez`)).ok, timeoutMs, `ingress on ${port}\n${service.output()}`);
  return Object.assign(service, { url });
}

/** Waits until an ingress's /health lists at least `count` available engines. */
export async function waitForBackends(ingressUrl: string, count: number, timeoutMs = 60_000): Promise<void> {
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
