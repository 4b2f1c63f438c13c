import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@infergate/shared';
import { startSimulator, type SimulatorHandle } from '@infergate/sim';
import { freePort } from '@infergate/stack';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, startService, waitFor, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * The NGINX edge of docker-compose.yml, run for real: Debian's nginx with
 * infra/nginx/infergate.conf.template and edge-keys.sh, in front of two
 * ingress processes, two dispatchers and two slow simulated engines (llama.cpp
 * and vLLM). Only the upstream list and the main nginx.conf (pid and temp
 * paths in a private folder) differ from Compose.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NGINX_DIR = join(ROOT, 'infra', 'nginx');
// /usr/sbin is not on every user's PATH.
const NGINX = ['nginx', '/usr/sbin/nginx'].find((bin) => spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0);
const BODY_LIMIT = loadConfig('ingress', {}).BODY_LIMIT_BYTES;
const TOKENS = 20;
const ITL_MS = 50;
const KEY = 'sk-edge.test+key_0001';
/** The client key list, in the ingress's API_KEYS format; the edge and the ingress get the same text. */
const KEY_LIST = `# edge test keys\nops:sk-named-edge-key-01\n${KEY}\n`;
const AUTH = { authorization: `Bearer ${KEY}` };

interface Edge {
  readonly url: string;
  /** What `nginx -t` printed for this config. */
  readonly checkOutput: string;
  stop(): Promise<void>;
}

/** Fills `${NAME}` the way envsubst does, and refuses to leave one unfilled. */
function renderTemplate(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`the template needs \${${name}}`);
    return value;
  });
}

/** Writes the edge's files into `dir` the way Compose lays them out; returns nginx's arguments. */
function writeEdgeConfig(dir: string, port: number, upstreams: readonly string[], keys?: string): string[] {
  mkdirSync(join(dir, 'infergate'));
  writeFileSync(join(dir, 'infergate', 'upstream.conf'), upstreams.map((u) => `server ${u};\n`).join(''));
  const template = readFileSync(join(NGINX_DIR, 'infergate.conf.template'), 'utf8');
  writeFileSync(
    join(dir, 'infergate.conf'),
    renderTemplate(template, { NGINX_PORT: `127.0.0.1:${port}`, BODY_LIMIT_BYTES: String(BODY_LIMIT) }),
  );
  if (keys) {
    const generated = spawnSync('sh', [join(NGINX_DIR, 'edge-keys.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        EDGE_API_KEY_CHECK: 'on',
        EDGE_API_KEYS: keys,
        EDGE_API_KEYS_MAP: join(dir, 'infergate', 'edge-keys', 'keys.map'),
      },
    });
    if (generated.status !== 0) throw new Error(`edge-keys.sh failed: ${generated.stderr}`);
  }
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      `pid ${join(dir, 'nginx.pid')};`,
      'worker_processes 1;',
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join(' ')}`,
      '  include infergate.conf;',
      '}',
      '',
    ].join('\n'),
  );
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'];
}

async function startEdge(upstreams: readonly string[], keys?: string): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), 'ig-nginx-'));
  // Workers run as an unprivileged user and must reach the temp folders.
  chmodSync(dir, 0o755);
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const args = writeEdgeConfig(dir, port, upstreams, keys);
    const check = spawnSync(NGINX!, ['-t', ...args], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`);
    const nginx = spawn(NGINX!, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = nginx;
    let out = '';
    nginx.stdout.on('data', (d: Buffer) => (out += d.toString()));
    nginx.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        if (nginx.exitCode !== null) throw new Error(`nginx exited: ${out}`);
        return (await fetch(`${url}/livez`)).ok;
      },
      10_000,
      `nginx on ${port}`,
    );
    return {
      url,
      checkOutput: check.stderr,
      async stop() {
        if (nginx.exitCode === null) nginx.kill('SIGTERM');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

let redis: TestRedis;
const sims: SimulatorHandle[] = [];
const services: Service[] = [];
let ingresses: IngressProcess[] = [];
let edge: Edge;
let keyedEdge: Edge;

function chat(edge: Edge, body: Record<string, unknown>, headers: Record<string, string> = AUTH): Promise<Response> {
  return fetch(`${edge.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: sims[0]!.config().modelId, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...body }),
  });
}

const TITLE = `the NGINX edge in front of two ingress nodes${NGINX ? '' : ' (skipped: nginx is not installed; apt-get install nginx)'}`;

describe.skipIf(!NGINX)(TITLE, () => {
  beforeAll(async () => {
    redis = await startTestRedis();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() };
    // llama.cpp marks its streams X-Accel-Buffering: no; vLLM does not, so
    // its stream shows that the edge itself does not buffer.
    sims.push(
      await startSimulator({ kind: 'llamacpp', slots: 4, ttftMs: 10, itlMs: ITL_MS, tokens: TOKENS }),
      await startSimulator({ kind: 'vllm', slots: 4, ttftMs: 10, itlMs: ITL_MS, tokens: TOKENS }),
    );
    for (const sim of sims) {
      services.push(
        startService('dispatcher', { ...env, ENGINE_URL: sim.url, ENGINE_KIND: sim.kind, ENGINE_SLOTS: '4', STATUS_PORT: '0' }),
      );
    }
    // Info level: each ingress logs one line per request, naming its request id.
    ingresses = await Promise.all(
      ['edge-a', 'edge-b'].map((id) => startIngressProcess({ ...env, INGRESS_ID: id, LOG_LEVEL: 'info', API_KEYS: KEY_LIST })),
    );
    await Promise.all(ingresses.map((ing) => waitForBackends(ing.url, 2)));
    const upstreams = ingresses.map((ing) => new URL(ing.url).host);
    [edge, keyedEdge] = await Promise.all([startEdge(upstreams), startEdge(upstreams, KEY_LIST)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([edge, keyedEdge].map((e) => e?.stop()));
    await Promise.all([...ingresses, ...services].map((s) => s.stop()));
    await Promise.all(sims.map((s) => s.close()));
    await redis?.stop();
  });

  it('passes nginx -t', () => {
    expect(edge.checkOutput).toContain('test is successful');
    expect(keyedEdge.checkOutput).toContain('test is successful');
  });

  it.each(['llamacpp', 'vllm'])('delivers a %s stream token by token, without server version', async (kind) => {
    const started = Date.now();
    const sim = sims.find((s) => s.kind === kind)!;
    const res = await chat(edge, { model: sim.config().modelId, stream: true, max_tokens: TOKENS });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('server')).toBe('nginx');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let reads = 0;
    let firstTokenAt: number | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      text += decoder.decode(value, { stream: true });
      firstTokenAt ??= /"content":"[^"]/.test(text) ? Date.now() : undefined;
    }
    const endedAt = Date.now();
    expect(text).toContain('data: [DONE]');
    expect(firstTokenAt).toBeDefined();
    // Buffered anywhere, the stream would arrive in one piece at the end.
    expect(endedAt - firstTokenAt!).toBeGreaterThan((TOKENS * ITL_MS) / 2);
    expect(reads).toBeGreaterThanOrEqual(TOKENS / 2);
    expect(endedAt - started).toBeGreaterThanOrEqual(TOKENS * ITL_MS * 0.9);
  });

  it('spreads requests over both ingress nodes', async () => {
    const rids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await chat(edge, {});
      expect(res.status).toBe(200);
      await res.text();
      rids.push(res.headers.get('x-request-id')!);
    }
    expect(new Set(rids).size).toBe(6);
    const servedBy = (rid: string) => ingresses.filter((ing) => ing.output().includes(rid));
    await waitFor(() => rids.every((rid) => servedBy(rid).length === 1), 5_000, 'a log line per request');
    for (const ing of ingresses) expect(rids.some((rid) => servedBy(rid)[0] === ing)).toBe(true);
  });

  it('refuses a body over the ingress limit itself (413) and passes one at the limit', async () => {
    const send = (bytes: number) =>
      fetch(`${edge.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AUTH },
        body: Buffer.alloc(bytes, 'x'),
      });
    const over = await send(BODY_LIMIT + 1);
    expect(over.status).toBe(413);
    // Every ingress answer carries a request id; this one never reached an ingress.
    expect(over.headers.get('x-request-id')).toBeNull();
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    // At the limit the edge lets it through, and the ingress judges the content.
    const at = await send(BODY_LIMIT);
    expect(at.status).toBe(400);
    expect(at.headers.get('x-request-id')).toBeTruthy();
    expect(((await at.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });

  it('checks API keys at the edge when the key map is generated', async () => {
    const denied: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer sk-wrong' },
      { 'x-api-key': 'sk-wrong' },
      { 'x-api-key': KEY.toUpperCase() },
    ];
    for (const headers of denied) {
      const res = await chat(keyedEdge, {}, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('x-request-id')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    const accepted: Array<Record<string, string>> = [AUTH, { 'x-api-key': KEY }, { 'x-api-key': 'sk-named-edge-key-01' }];
    for (const headers of accepted) {
      const res = await chat(keyedEdge, {}, headers);
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      await res.text();
    }
    // Probes stay open, as on the ingress.
    for (const probe of ['/livez', '/readyz', '/health']) expect((await fetch(`${keyedEdge.url}${probe}`)).status, probe).toBe(200);
  });
});
