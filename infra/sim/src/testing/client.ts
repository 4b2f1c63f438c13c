/*
 * A raw HTTP client for tests: one connection per request (no pooling, so a
 * request waiting for a slot never blocks another), with the moment the
 * headers arrive observable and the connection closable at any time.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface Exchange {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Call {
  /** Set once the status line and headers have arrived. */
  readonly head: { status: number; headers: IncomingHttpHeaders } | undefined;
  /** The body received so far. */
  readonly text: string;
  /** Settles with the complete exchange, or rejects if the connection fails or is cut. */
  readonly done: Promise<Exchange>;
  readonly headers: Promise<void>;
  /** Closes the connection as a client giving up would. */
  abort(): void;
  /** Resolves once the body received so far satisfies `test`. */
  until(test: (text: string) => boolean): Promise<void>;
}

export interface CallOptions {
  readonly method?: string;
  readonly body?: string | Buffer | object;
  readonly headers?: Record<string, string>;
}

export function call(base: string, path: string, options: CallOptions = {}): Call {
  const { body } = options;
  const payload = body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const method = options.method ?? (payload === undefined ? 'GET' : 'POST');
  const req = httpRequest(new URL(path, base), {
    method,
    agent: false,
    headers: { ...(payload !== undefined && { 'content-type': 'application/json' }), ...options.headers },
  });
  const waiters = new Set<() => void>();
  const state: { head: Call['head']; text: string } = { head: undefined, text: '' };
  let gotHeaders!: () => void;
  const headers = new Promise<void>((resolve) => (gotHeaders = resolve));
  const done = new Promise<Exchange>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      state.head = { status: res.statusCode ?? 0, headers: res.headers };
      gotHeaders();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        state.text += chunk;
        for (const w of [...waiters]) w();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: state.text }));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('response cut before its end'));
      });
    });
  });
  done.catch(() => undefined);
  req.end(payload);
  return {
    get head() {
      return state.head;
    },
    get text() {
      return state.text;
    },
    done,
    headers,
    abort: () => req.destroy(),
    until: (test) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!test(state.text)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        done.then(() => (test(state.text) ? resolve() : reject(new Error(`body never matched; got: ${state.text}`))), reject);
        check();
      }),
  };
}

/** A complete request/response. */
export function fetchRaw(base: string, path: string, options: CallOptions = {}): Promise<Exchange> {
  return call(base, path, options).done;
}

/** Polls `probe` until it returns true (simulator state changes land within a few event-loop turns). */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
