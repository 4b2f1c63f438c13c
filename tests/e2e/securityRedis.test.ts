import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { freePort, provideRedis, type RedisHandle } from '@infergate/stack';
import { startDispatcher } from '../support/gate.js';
import { uniquePrefix } from '../support/redis.js';
import { startIngressProcess, startService, waitForBackends, type Service } from '../support/services.js';

/*
 * Redis with credentials: an ACL user (the default user disabled), over
 * plain TCP and over TLS. These need a redis-server of this machine's own
 * (they configure it), so they are skipped where only Docker provides Redis.
 */

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ACL = { user: 'infergate-app', password: 'acl-pass-5e2f91c0d7' };

/** A self-signed certificate for 127.0.0.1, or undefined without openssl or a TLS-capable redis-server. */
function makeCertificate(): { certFile: string; keyFile: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'ig-tls-'));
  const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.keyFile, '-out', files.certFile, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  if (made.status !== 0) return undefined;
  // Listening nowhere, a TLS-capable server exits at once; a build without TLS rejects the options.
  const probe = spawnSync('redis-server', ['--port', '0', '--tls-port', '0', '--tls-cert-file', files.certFile, '--tls-key-file', files.keyFile], {
    encoding: 'utf8',
  });
  return /FATAL CONFIG|Bad directive/.test(`${probe.stderr}${probe.stdout}`) ? undefined : files;
}

const certificate = hasRedisServer ? makeCertificate() : undefined;

let sim: SimulatorHandle;
const servers: RedisHandle[] = [];
const services: Service[] = [];

beforeAll(async () => {
  sim = await startSimulator({ kind: 'llamacpp', slots: 4, ttftMs: 5, itlMs: 2, tokens: 8, modelId: 'acl' });
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await sim?.close();
  await Promise.all(servers.map((r) => r.stop()));
});

/** A dispatcher and an ingress on `redisUrl`; resolves once a chat completion went through. */
async function fleetServes(redisUrl: string, env: Record<string, string> = {}): Promise<string> {
  const shared = { REDIS_URL: redisUrl, REDIS_PREFIX: uniquePrefix(), ...env };
  services.push(startDispatcher(shared, sim.url, `d-${shared.REDIS_PREFIX}`));
  const ingress = await startIngressProcess(shared);
  services.push(ingress);
  await waitForBackends(ingress.url, 1);
  const res = await fetch(`${ingress.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'acl', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
}

describe.skipIf(!hasRedisServer)('Redis credentials', () => {
  let acl: RedisHandle;
  beforeAll(async () => {
    acl = await provideRedis({ acl: ACL });
    servers.push(acl);
  });

  it('runs the fleet as an ACL user given in REDIS_URL', async () => {
    expect(acl.url).toContain(`${ACL.user}:${ACL.password}@`);
    expect(await fleetServes(acl.url)).toBe(expectedTokens(5));
  }, 60_000);

  it('stops an ingress with wrong credentials at once, saying why without printing the password', async () => {
    const wrong = 'wrong-pass-b81d77';
    for (const url of [acl.url.replace(ACL.password, wrong), acl.url.replace(`${ACL.user}:${ACL.password}@`, '')]) {
      const ingress = startService('ingress', { REDIS_URL: url, PORT: String(await freePort()), HOST: '127.0.0.1', ALLOW_OPEN_ACCESS: 'true' });
      expect(await ingress.exited).toBe(1);
      // This message comes from the first refusal; waiting out the connect timeout would say "not ready".
      expect(ingress.output()).toMatch(/Redis refused the configured user name or password: (WRONGPASS|NOAUTH)/);
      expect(ingress.output()).not.toContain(wrong);
      expect(ingress.output()).not.toContain(ACL.password);
    }
  }, 60_000);

  it.skipIf(certificate === undefined)('runs the fleet over TLS (rediss://) with an ACL user', async () => {
    const tls = await provideRedis({ acl: ACL, tls: certificate! });
    servers.push(tls);
    expect(tls.url.startsWith('rediss://')).toBe(true);
    // The processes trust the self-signed certificate the way an operator would make them: Node's CA option.
    expect(await fleetServes(tls.url, { NODE_EXTRA_CA_CERTS: certificate!.certFile })).toBe(expectedTokens(5));
  }, 60_000);
});
