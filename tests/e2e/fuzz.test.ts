import OpenAI from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTokens, startSimulator, type SimulatorHandle } from '@infergate/sim';
import { startDispatcher } from '../support/gate.js';
import { httpRequest, rawRequest, type Pause, type RawAnswer } from '../support/rawHttp.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startIngressProcess, waitForBackends, type IngressProcess, type Service } from '../support/services.js';

/*
 * Thousands of malformed and hostile requests against a live ingress while
 * legitimate streams run through it. Each hostile request must get a 4xx
 * with an OpenAI-style JSON error body, or, where the bytes are not HTTP the
 * server can answer at all, a closed connection; nothing may crash or
 * restart a process, and every legitimate stream must arrive complete.
 */

const MODEL = 'fuzz';
const KEY = 'sk-fuzz-legit-key-0123456789';
const LIMITS = { BODY_LIMIT_BYTES: 65_536, MAX_HEADER_BYTES: 8_192, MAX_URL_LENGTH: 2_048, HEADERS_TIMEOUT_SECONDS: 2, REQUEST_TIMEOUT_SECONDS: 3 };
const SEED = Number(process.env.FUZZ_SEED ?? 0x1f2e3d4c);
const LEGIT_STREAMS = 20;
const CONCURRENCY = 48;

let redis: TestRedis;
let sim: SimulatorHandle;
let dispatcher: Service;
let ingress: IngressProcess;
let port: number;

beforeAll(async () => {
  redis = await startTestRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() };
  sim = await startSimulator({ kind: 'llamacpp', slots: 32, ttftMs: 20, itlMs: 25, tokens: 400, modelId: MODEL });
  dispatcher = startDispatcher(env, sim.url, 'fuzz-d');
  ingress = await startIngressProcess({
    ...env,
    API_KEYS: KEY,
    ALLOW_OPEN_ACCESS: 'false',
    ...Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, String(v)])),
  });
  port = Number(new URL(ingress.url).port);
  await waitForBackends(ingress.url, 1);
}, 90_000);

afterAll(async () => {
  await Promise.all([ingress, dispatcher].filter(Boolean).map((s) => s.stop()));
  await sim?.close();
  await redis?.stop();
});

/** mulberry32: a small seeded generator, so a failing run can be replayed with FUZZ_SEED. */
function generator(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)]!,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}
const rnd = generator(SEED);

const INFERENCE = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/completion', '/tokenize', '/infill', '/pooling'];
const chatJson = (content = 'hello') => JSON.stringify({ model: MODEL, stream: true, max_tokens: 4, messages: [{ role: 'user', content }] });
const keyed = { 'x-api-key': KEY, 'content-type': 'application/json', connection: 'close' };

/**
 * A hostile request: raw bytes for a socket (`parts`), or an undici call.
 * `unparseable` marks bytes that are not an HTTP request the server can
 * answer: only those may end in a closed connection instead of a 4xx.
 */
interface Hostile {
  readonly category: string;
  readonly parts?: ReadonlyArray<Buffer | string | Pause>;
  readonly undici?: { method: string; path: string; headers: Record<string, string>; body?: Buffer | string };
  readonly unparseable?: boolean;
}

type Generator = () => Hostile;

const generators: Array<[count: number, make: Generator]> = [
  [700, () => ({ category: 'random bytes', parts: [rnd.bytes(1 + rnd.int(2048))], unparseable: true })],
  [
    300,
    () => ({
      category: 'broken request line',
      unparseable: true,
      parts: [
        rnd.pick([
          'GET\r\n\r\n',
          'POST /v1/chat/completions HTTP/9.9\r\nhost: x\r\n\r\n',
          'POST /v1/chat/completions\r\nhost: x\r\n\r\n',
          'post /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n',
          'P@ST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n',
          'POST  /v1/chat/completions  HTTP/1.1\r\nhost: x\r\n\r\n',
          'POST /v1/chat/\x00completions HTTP/1.1\r\nhost: x\r\n\r\n',
          'POST /v1/chat/completions HTTP/1.1\nhost: x\n\n',
          'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n',
          'POST /v1/chat/completions HTTP/1.1',
          `POST /${'a'.repeat(rnd.int(64))} HTTP/1.1\r\r\n\r\n`,
          '\r\n\r\n\r\n',
          'HTTP/1.1 200 OK\r\n\r\n',
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        ]),
      ],
    }),
  ],
  [
    400,
    () => {
      const bad = rnd.pick([
        'x bad name: 1',
        'no-colon-here',
        'x-nul: a\x00b',
        'x-cr: a\rb',
        ' folded: continuation',
        'x-del: \x7f',
        '(x): 1',
        'x-api-key : ' + KEY,
        ': empty-name',
        'content-length: 1\r\ncontent-length: 2',
        'transfer-encoding: chunked\r\ncontent-length: 5',
        'transfer-encoding: gzip, chunked, identity',
        'host: a\r\nhost: b',
      ]);
      // No key: even a lenient parse ends in a 4xx.
      return { category: 'bad headers', unparseable: true, parts: [`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n${bad}\r\ncontent-type: application/json\r\n\r\n${chatJson()}`] };
    },
  ],
  [
    200,
    () => {
      const many = rnd.int(2) === 0;
      const headers = many
        ? Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`x-h${i}`, 'v'.repeat(20)]))
        : { 'x-huge': 'h'.repeat(LIMITS.MAX_HEADER_BYTES + rnd.int(50_000)) };
      return { category: 'huge headers', parts: [httpRequest('POST', '/v1/chat/completions', { ...keyed, ...headers }, chatJson())] };
    },
  ],
  [
    300,
    () => {
      const cl = rnd.pick(['abc', '-1', '1, 2', '0x10', '99999999999999999999', '1.5', ' ', '+5', '5 5']);
      return {
        category: 'bad content-length',
        unparseable: true,
        parts: [`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-length: ${cl}\r\n\r\n${chatJson()}`],
      };
    },
  ],
  [
    200,
    () => ({
      category: 'bad chunked body',
      unparseable: true,
      parts: [
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ntransfer-encoding: chunked\r\n\r\n`,
        rnd.pick(['zz\r\nabc\r\n0\r\n\r\n', '5\r\nabcdefgh\r\n0\r\n\r\n', '3\nabc\n0\n\n', `5;${'e'.repeat(20_000)}\r\nabcde\r\n0\r\n\r\n`, '-1\r\n\r\n', 'fffffffffffffffff\r\n']),
      ],
    }),
  ],
  [
    600,
    () => {
      const json = chatJson(`truncated ${rnd.int(1e9)}`);
      const body = json.slice(0, 1 + rnd.int(json.length - 2));
      return rnd.int(3) === 0
        ? { category: 'truncated JSON', undici: { method: 'POST', path: rnd.pick(INFERENCE), headers: keyed, body } }
        : { category: 'truncated JSON', parts: [httpRequest('POST', rnd.pick(INFERENCE), keyed, body)] };
    },
  ],
  [
    400,
    () => {
      const invalid = rnd.bytes(1 + rnd.int(8)).map((b) => 0x80 | b);
      const variant = rnd.int(3);
      if (variant === 0) {
        // Invalid UTF-8 outside any string: not JSON.
        return { category: 'invalid UTF-8', parts: [httpRequest('POST', '/v1/chat/completions', keyed, Buffer.concat([Buffer.from('{"model":"fuzz",'), invalid, Buffer.from('}')]))] };
      }
      if (variant === 1) {
        // Inside the model name: a model that does not exist.
        return { category: 'invalid UTF-8', parts: [httpRequest('POST', '/v1/chat/completions', keyed, Buffer.concat([Buffer.from('{"model":"fuzz'), invalid, Buffer.from('","messages":[]}')]))] };
      }
      return { category: 'invalid UTF-8', unparseable: true, parts: [Buffer.concat([Buffer.from('POST /v1/'), invalid, Buffer.from(` HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\nconnection: close\r\n\r\n`)])] };
    },
  ],
  [
    200,
    () => ({
      category: 'JSON of the wrong shape',
      parts: [httpRequest('POST', rnd.pick(INFERENCE), keyed, rnd.pick(['[]', '"x"', '42', 'null', 'true', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, '{"model":"../../etc/passwd"}']))],
    }),
  ],
  [
    400,
    () => {
      // Not HEAD: its 404 rightly has no body to check.
      const method = rnd.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'CONNECT', 'FOO', 'GETX']);
      const target = method === 'CONNECT' ? '127.0.0.1:6379' : rnd.pick(INFERENCE);
      if (rnd.int(3) === 0 && !['CONNECT', 'FOO', 'GETX', 'TRACE'].includes(method)) {
        return { category: 'wrong method', undici: { method, path: target, headers: { 'x-api-key': KEY } } };
      }
      // CONNECT asks for a tunnel, and unknown method tokens are not HTTP: Node answers neither.
      return { category: 'wrong method', unparseable: ['CONNECT', 'FOO', 'GETX'].includes(method), parts: [httpRequest(method, target, keyed, method === 'GET' ? '' : chatJson())] };
    },
  ],
  [
    400,
    () => {
      const target = rnd.pick([
        '/v1/../slots/0?action=erase',
        '/v1/chat/completions/../../props',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/v1/chat/completions%2F..%2Fslots',
        '/v1//chat/completions',
        '/./v1/chat/completions',
        '/v1/chat\\completions',
        '/v1/chat/completions#x',
        '/..;/slots/0',
        '/v1/%2E%2E%2F%2E%2E%2Fprops',
        '/slots/0?action=erase',
        '/props',
        '/lora-adapters',
        '/v1/load_lora_adapter',
        '/start_profile',
      ]);
      return rnd.int(3) === 0 && !target.includes('#')
        ? { category: 'path traversal', undici: { method: 'POST', path: target, headers: keyed, body: chatJson() } }
        : { category: 'path traversal', parts: [httpRequest('POST', target, keyed, chatJson())] };
    },
  ],
  [
    200,
    () => ({
      category: 'absolute-form target',
      parts: [
        httpRequest(
          'POST',
          rnd.pick([
            `http://127.0.0.1:${port}/v1/chat/completions`,
            'http://169.254.169.254/latest/meta-data/',
            'https://evil.example/v1/chat/completions',
            'http://localhost:6379/v1/chat/completions',
            '//evil.example/v1/chat/completions',
            'file:///etc/passwd',
            'evil.example:443',
          ]),
          keyed,
          chatJson(),
        ),
      ],
    }),
  ],
  [
    150,
    () => {
      const declared = rnd.int(2) === 0;
      if (declared) {
        // The length alone is refused; the body is never sent.
        return { category: 'oversized body', parts: [`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-length: ${LIMITS.BODY_LIMIT_BYTES + 1 + rnd.int(1e9)}\r\n\r\n`] };
      }
      const body = Buffer.alloc(LIMITS.BODY_LIMIT_BYTES + 1 + rnd.int(100_000), 0x20);
      return rnd.int(2) === 0
        ? { category: 'oversized body', undici: { method: 'POST', path: '/v1/chat/completions', headers: keyed, body } }
        : { category: 'oversized body', parts: [httpRequest('POST', '/v1/chat/completions', { ...keyed, 'transfer-encoding': 'chunked' }, Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]))] };
    },
  ],
  [
    400,
    () => {
      const headers = rnd.pick<Record<string, string>>([
        {},
        { authorization: 'Bearer sk-wrong-0123456789abcdef' },
        { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` },
        { authorization: 'Bearer' },
        { authorization: `Bearer ${KEY.slice(0, -1)}` },
        { 'x-api-key': '' },
        { 'x-api-key': KEY.toUpperCase() },
        { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
        { authorization: `Bearer ${'eyJ'.repeat(2000)}.${'a'.repeat(10)}.${'b'.repeat(10)}` },
        { cookie: `api_key=${KEY}` },
      ]);
      const path = rnd.pick([...INFERENCE, '/v1/models', `/v1/chat/completions?api_key=${KEY}`]);
      const full = { 'content-type': 'application/json', connection: 'close', ...headers };
      return rnd.int(3) === 0
        ? { category: 'no or wrong credentials', undici: { method: 'POST', path, headers: full, body: chatJson() } }
        : { category: 'no or wrong credentials', parts: [httpRequest('POST', path, full, chatJson())] };
    },
  ],
  [
    200,
    () => ({
      category: 'unknown model or path',
      parts: [
        rnd.int(2) === 0
          ? httpRequest('POST', '/v1/chat/completions', keyed, JSON.stringify({ model: `no-such-${rnd.int(1e6)}`, messages: [] }))
          : httpRequest('POST', rnd.pick(['/v1/nothing', '/admin-x', '/v2/chat/completions', '/V1/chat/completions', '/v1/chat/completions/']), keyed, chatJson()),
      ],
    }),
  ],
];

/** Slow clients, sent first: they hold their connections for the whole headers timeout. */
const slowloris: Hostile[] = Array.from({ length: 40 }, (_, i) => ({
  category: 'slowloris',
  parts:
    i % 2 === 0
      ? ['POST /v1/chat/completions HTTP/1.1\r\n', ...Array.from({ length: 30 }, () => [{ pauseMs: 300 }, 'x-a: b\r\n']).flat()]
      : [`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-length: 500\r\n\r\n{"model":`, { pauseMs: 20_000 }],
}));

const undiciAgent = new Agent({ connections: 16, pipelining: 0 });

interface Outcome {
  readonly category: string;
  readonly status: number | undefined;
  readonly json: boolean;
  readonly closedByServer: boolean;
  readonly unparseable: boolean;
  readonly detail: string;
}

function isErrorBody(body: string): boolean {
  try {
    const e = (JSON.parse(body) as { error?: { message?: unknown; type?: unknown; code?: unknown } }).error;
    return typeof e?.message === 'string' && typeof e.type === 'string' && typeof e.code === 'string' && !/\n\s+at /.test(body);
  } catch {
    return false;
  }
}

async function send(h: Hostile): Promise<Outcome> {
  if (h.undici) {
    try {
      // The dispatcher API sends the path verbatim; a URL would normalise `..` away first.
      const res = await undiciAgent.request({ origin: ingress.url, ...h.undici, method: h.undici.method });
      const body = await res.body.text();
      const detail = `${h.undici.method} ${h.undici.path} → ${res.statusCode} ${body.slice(0, 120)}`;
      return { category: h.category, status: res.statusCode, json: isErrorBody(body), closedByServer: false, unparseable: false, detail };
    } catch (err) {
      return { category: h.category, status: undefined, json: false, closedByServer: false, unparseable: false, detail: `undici: ${(err as Error).message}` };
    }
  }
  const answer: RawAnswer = await rawRequest(port, h.parts!, { endAfterSend: true, timeoutMs: 30_000 });
  const first = h.parts!.find((p): p is Buffer | string => typeof p !== 'object' || Buffer.isBuffer(p));
  return {
    category: h.category,
    status: answer.status,
    json: isErrorBody(answer.body),
    closedByServer: answer.closedByServer,
    unparseable: h.unparseable === true,
    detail: `${JSON.stringify(String(first).slice(0, 100))} → ${answer.status ?? (answer.closedByServer ? 'closed' : 'no answer')} ${answer.body.slice(0, 120)}`,
  };
}

async function runPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

describe('fuzzing a live ingress', () => {
  it('answers every hostile request with a 4xx JSON error (or closes unparseable ones) while legitimate streams complete', async () => {
    const pids = { ingress: ingress.child.pid, dispatcher: dispatcher.child.pid };
    const hostile = generators.flatMap(([count, make]) => Array.from({ length: count }, make));
    expect(hostile.length + slowloris.length).toBeGreaterThanOrEqual(5_000);

    let fuzzing = true;
    const client = new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const legit = Array.from({ length: LEGIT_STREAMS }, async (_, worker) => {
      const results: boolean[] = [];
      // Each worker streams until the fuzzing is over, so streams are always in flight.
      for (let round = 0; fuzzing || round === 0; round++) {
        const n = 20 + ((worker * 7 + round * 13) % 40);
        const stream = await client.chat.completions.create({ model: MODEL, stream: true, max_tokens: n, messages: [{ role: 'user', content: `legit ${worker}/${round}` }] });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        results.push(text === expectedTokens(n));
      }
      return results;
    });

    const started = Date.now();
    const [slow, fast] = await Promise.all([runPool(slowloris, slowloris.length, send), runPool(hostile, CONCURRENCY, send)]);
    fuzzing = false;
    const fuzzMs = Date.now() - started;
    const streams = (await Promise.all(legit)).flat();

    const outcomes = [...slow, ...fast];
    const table = new Map<string, { sent: number; json4xx: number; closed: Set<string>; closedCount: number; bad: string[] }>();
    for (const o of outcomes) {
      const row = table.get(o.category) ?? { sent: 0, json4xx: 0, closed: new Set(), closedCount: 0, bad: [] };
      table.set(o.category, row);
      row.sent++;
      if (o.status !== undefined && o.status >= 400 && o.status < 500 && o.json) row.json4xx++;
      else if (o.status === undefined && o.closedByServer && o.unparseable) {
        row.closedCount++;
        row.closed.add(o.detail.split(' → ')[0]!);
      } else row.bad.push(o.detail);
    }
    const statuses = new Map<string, number>();
    for (const o of outcomes) statuses.set(`${o.status ?? 'closed'}`, (statuses.get(`${o.status ?? 'closed'}`) ?? 0) + 1);
    const report = [
      `fuzz seed ${SEED}: ${outcomes.length} hostile requests in ${(fuzzMs / 1000).toFixed(1)} s, ${streams.length} legitimate streams`,
      ...[...table].map(([c, r]) => `  ${c.padEnd(26)} sent ${String(r.sent).padStart(4)}  4xx JSON ${String(r.json4xx).padStart(4)}  closed ${String(r.closedCount).padStart(4)}  bad ${r.bad.length}`),
      ...[...table].flatMap(([c, r]) => (r.closed.size > 0 ? [`  closed in ${c}: ${[...r.closed].slice(0, 6).join(' | ')}`] : [])),
      `  statuses: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`,
    ].join('\n');
    process.stdout.write(`${report}\n`);

    const bad = [...table.values()].flatMap((r) => r.bad);
    expect(bad.slice(0, 10), report).toEqual([]);
    expect(streams.length).toBeGreaterThanOrEqual(LEGIT_STREAMS);
    expect(streams.filter((ok) => !ok)).toHaveLength(0);
    // Nothing crashed or was restarted: the same processes, still running, still serving.
    for (const service of [ingress, dispatcher]) expect([service.child.exitCode, service.child.signalCode]).toEqual([null, null]);
    expect({ ingress: ingress.child.pid, dispatcher: dispatcher.child.pid }).toEqual(pids);
    expect((await fetch(`${ingress.url}/livez`)).status).toBe(200);
    expect(ingress.output()).not.toMatch(/"level":50|unhandled error/);
  }, 120_000);
});
