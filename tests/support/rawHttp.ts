import { connect } from 'node:net';

/*
 * HTTP/1.1 over a bare socket, for requests no well-behaved client would
 * send: malformed framing, absolute-form targets, headers sent a byte at a
 * time. Reads the first response only.
 */

export interface RawAnswer {
  /** Status of the first response; undefined when the connection closed without one. */
  readonly status: number | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** True when the server closed the connection (or reset it) before the client did. */
  readonly closedByServer: boolean;
  readonly ms: number;
}

/** A pause between two parts of a request. */
export interface Pause {
  readonly pauseMs: number;
}

export interface RawOptions {
  /** Gives up (and closes) after this long without a complete response. */
  readonly timeoutMs?: number;
  /** After a complete response, waits up to this long to see whether the server closes the connection. */
  readonly awaitCloseMs?: number;
  /** Half-closes after the last part, as a client with nothing more to say. */
  readonly endAfterSend?: boolean;
}

function parse(data: Buffer): { status: number; headers: Record<string, string>; body: Buffer; complete: boolean } | undefined {
  // Interim responses (100 Continue) come before the one that counts.
  while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(0, 13).toString('latin1'))) {
    const interimEnd = data.indexOf('\r\n\r\n');
    if (interimEnd === -1) return undefined;
    data = data.subarray(interimEnd + 4);
  }
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = data.subarray(end + 4);
  const length = headers['content-length'];
  const complete =
    length !== undefined
      ? body.length >= Number(length)
      : headers['transfer-encoding'] === 'chunked'
        ? body.includes('\r\n0\r\n\r\n') || body.subarray(0, 5).toString() === '0\r\n\r\n'
        : false;
  return { status, headers, body: length !== undefined ? body.subarray(0, Number(length)) : body, complete };
}

/** Sends `parts` (pausing where asked) to 127.0.0.1:`port` and reads the first response. */
export function rawRequest(port: number, parts: ReadonlyArray<Buffer | string | Pause>, options: RawOptions = {}): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    let complete = false;
    let closedByServer = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const r = parse(data);
      resolve({
        status: r?.status,
        headers: r?.headers ?? {},
        body: r?.body.toString('utf8') ?? '',
        closedByServer,
        ms: performance.now() - started,
      });
    };
    let timer = setTimeout(finish, options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (complete || !parse(data)?.complete) return;
      complete = true;
      if (options.awaitCloseMs === undefined) return finish();
      clearTimeout(timer);
      timer = setTimeout(finish, options.awaitCloseMs);
    });
    const closed = () => {
      closedByServer = !done;
      finish();
    };
    socket.on('error', closed);
    socket.on('end', closed);
    socket.on('close', closed);
    const send = async () => {
      for (const part of parts) {
        if (done || socket.destroyed) return;
        if (typeof part === 'object' && 'pauseMs' in part) await new Promise((r) => setTimeout(r, part.pauseMs));
        else socket.write(part);
      }
      if (options.endAfterSend && !socket.destroyed) socket.end();
    };
    // A failure while sending ends the exchange through the socket's 'error' listener.
    socket.once('connect', () => {
      send().catch((err: unknown) => socket.destroy(err as Error));
    });
  });
}

/** A request with the usual framing around `target`, `headers` and `body`. */
export function httpRequest(method: string, target: string, headers: Record<string, string>, body: Buffer | string = ''): Buffer {
  const all = { host: '127.0.0.1', ...headers };
  const head = [`${method} ${target} HTTP/1.1`, ...Object.entries(all).map(([k, v]) => `${k}: ${v}`)];
  if (body.length > 0 && !Object.keys(headers).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) {
    head.push(`content-length: ${Buffer.byteLength(body)}`);
  }
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
}
