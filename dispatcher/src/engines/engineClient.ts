import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';

export interface EngineResponse<T> {
  readonly status: number;
  readonly body: T;
}

/**
 * The connection pool to one engine, shared by probes and forwarded requests.
 * Engines may close a keep-alive connection after any response (llama-server
 * does); the pool opens a new one for the next request.
 */
export class EngineClient {
  readonly pool: Pool;
  readonly origin: string;
  /** Ids of forwarded requests whose response has neither ended nor closed. */
  private readonly forwarding = new Set<number>();
  private nextForward = 0;

  constructor(
    baseUrl: string,
    private readonly auth: Readonly<Record<string, string>> = {},
  ) {
    this.origin = new URL(baseUrl).origin;
    this.pool = new Pool(this.origin, {
      // No cap of its own: the capacity gate already bounds concurrent requests
      // to the engine's slots, and a cap here would queue them a second time.
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
      connect: { timeout: 5_000 },
    });
  }

  /** Headers every request to the engine carries (its own API key). */
  get authHeaders(): Readonly<Record<string, string>> {
    return this.auth;
  }

  async get(path: string, timeoutMs: number): Promise<EngineResponse<string>> {
    const res = await this.pool.request({
      method: 'GET',
      path,
      headers: this.auth,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.statusCode, body: await res.body.text() };
  }

  async getJson(path: string, timeoutMs: number): Promise<EngineResponse<unknown>> {
    const res = await this.get(path, timeoutMs);
    let body: unknown;
    try {
      body = res.body.length > 0 ? JSON.parse(res.body) : undefined;
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  }

  /** Forwards a request; it counts as ours on the engine until its response ends or is closed. */
  async request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const id = this.nextForward++;
    this.forwarding.add(id);
    try {
      const res = await this.pool.request(options);
      const done = () => this.forwarding.delete(id);
      res.body.once('end', done).once('close', done);
      return res;
    } catch (err) {
      this.forwarding.delete(id);
      throw err;
    }
  }

  /**
   * Runs `read`, a reading of the engine's load, and counts the forwarded
   * requests it surely includes (`sure`: sent before it began, still open
   * after it ended) and those it may or may not include (`unsure`: sent or
   * ended meanwhile). One sent meanwhile may not have reached the engine
   * yet; one that ended meanwhile the engine may have let go already, as
   * engines free a slot before the last bytes of its answer arrive.
   */
  async measure<T>(read: () => Promise<T>): Promise<{ reading: T; sure: number; unsure: number }> {
    const mark = this.nextForward;
    const openBefore = this.forwarding.size;
    const reading = await read();
    let sure = 0;
    for (const id of this.forwarding) if (id < mark) sure++;
    return { reading, sure, unsure: this.nextForward - mark + openBefore - sure };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Connection-level failures: the engine never saw or never answered the request. */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (
    err instanceof undiciErrors.SocketError ||
    err instanceof undiciErrors.ConnectTimeoutError ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}
