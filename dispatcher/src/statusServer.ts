import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DispatcherState } from '@infergate/shared';

export type StatusRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The dispatcher's own small HTTP surface: orchestrator probes, its registry
 * state, and whatever extra routes (metrics) are plugged in. It never
 * touches the engine: probes answer from what the dispatcher already knows.
 */
export async function startStatusServer(
  host: string,
  port: number,
  state: () => DispatcherState,
  extra: Readonly<Record<string, StatusRoute>> = {},
): Promise<{ server: Server; port: number }> {
  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const routes: Record<string, StatusRoute> = {
    '/livez': (_req, res) => json(res, 200, { status: 'ok' }),
    // Ready means "can take work": engine ready and not draining.
    '/readyz': (_req, res) => {
      const s = state();
      json(res, s.ready && !s.draining ? 200 : 503, { status: s.ready && !s.draining ? 'ready' : 'not ready', blockedBy: s.blockedBy });
    },
    '/state': (_req, res) => json(res, 200, state()),
    ...extra,
  };
  const server = createServer((req, res) => {
    const route = req.method === 'GET' ? routes[(req.url ?? '/').split('?')[0]!] : undefined;
    if (!route) return json(res, 404, { error: { message: 'Not found', type: 'invalid_request_error', param: null, code: 'unsupported_path' } });
    Promise.resolve(route(req, res)).catch(() => json(res, 500, { error: { message: 'Internal error', type: 'server_error', param: null, code: 'internal' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
