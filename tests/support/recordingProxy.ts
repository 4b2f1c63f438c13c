import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy in front of an engine that keeps what the engine
 * answered to each request, keyed by the `x-request-id` the dispatcher sends,
 * so a test can compare the engine's own bytes with what a client received;
 * and every request the engine was sent, as it arrived.
 */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Raw header pairs, names as sent: nothing the proxy's parser merged or dropped. */
  readonly rawHeaders: readonly string[];
  readonly headers: Record<string, string | string[] | undefined>;
}

export interface RecordedResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface RecordingProxy {
  readonly url: string;
  readonly responses: Map<string, RecordedResponse>;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingProxy(engineUrl: string): Promise<RecordingProxy> {
  const target = new URL(engineUrl);
  const responses = new Map<string, RecordedResponse>();
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers });
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const chunks: Buffer[] = [];
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on('data', (c: Buffer) => {
          chunks.push(c);
          res.write(c);
        });
        up.on('end', () => {
          const rid = req.headers['x-request-id'];
          if (typeof rid === 'string') responses.set(rid, { status: up.statusCode ?? 0, headers: up.headers, body: Buffer.concat(chunks) });
          res.end();
        });
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    responses,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
