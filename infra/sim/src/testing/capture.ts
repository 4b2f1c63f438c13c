/*
 * Reader for the recorded engine exchanges in fixtures/captures: a
 * `### <curl command>` line (absent in a few files), then the response as
 * received — status line, headers, blank line, body. A body that still has
 * its chunked transfer framing (chat-stream-rawchunks) is de-chunked.
 */
import { readFileSync } from 'node:fs';

export interface CapturedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string | undefined;
}

export interface Capture {
  readonly request: CapturedRequest | undefined;
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  /** The chunk sizes when the body kept its chunked framing. */
  readonly chunks: readonly number[] | undefined;
}

/** The request behind a `curl …` line, enough to replay it. */
export function parseCurl(line: string): CapturedRequest | undefined {
  const url = /(https?:\/\/\S+)$/.exec(line)?.[1];
  if (!line.startsWith('curl') || !url) return undefined;
  const body = / -d (.*) https?:\/\/\S+$/.exec(line)?.[1];
  const method = /-X (\S+)/.exec(line)?.[1] ?? (/ -I /.test(line) ? 'HEAD' : body !== undefined ? 'POST' : 'GET');
  const { pathname, search } = new URL(url);
  return { method, path: pathname + search, body };
}

function dechunk(raw: Buffer): { body: Buffer; chunks: number[] } {
  const parts: Buffer[] = [];
  const chunks: number[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    const size = Number.parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (eol < 0 || Number.isNaN(size)) throw new Error(`bad chunk header at byte ${at}`);
    if (size === 0) return { body: Buffer.concat(parts), chunks };
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    chunks.push(size);
    at = eol + 2 + size + 2;
  }
}

export function parseCapture(raw: Buffer): Capture {
  let at = 0;
  let request: CapturedRequest | undefined;
  if (raw.subarray(0, 4).toString('latin1') === '### ') {
    const eol = raw.indexOf('\n');
    request = parseCurl(raw.subarray(4, eol).toString('utf8').trim());
    at = eol + 1;
  }
  const headEnd = raw.indexOf('\r\n\r\n', at);
  if (headEnd < 0) throw new Error('capture has no header terminator');
  const [statusLine = '', ...lines] = raw.subarray(at, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!status) throw new Error(`bad status line: ${statusLine}`);
  const headers = lines.map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon), l.slice(colon + 1).trim()] as const;
  });
  let body = raw.subarray(headEnd + 4);
  let chunks: number[] | undefined;
  const length = headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1];
  if (length !== undefined) body = body.subarray(0, Number(length));
  else if (/^[0-9a-fA-F]+\r\n/.test(body.subarray(0, 10).toString('latin1'))) ({ body, chunks } = dechunk(body));
  return { request, status, headers, body, chunks };
}

export function loadCapture(name: string): Capture {
  return parseCapture(readFileSync(new URL(`../../fixtures/captures/${name}.http`, import.meta.url)));
}

export function header(c: Capture, name: string): string | undefined {
  return c.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
