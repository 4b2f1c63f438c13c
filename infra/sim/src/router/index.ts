/*
 * llama-server in router mode (started without `-m`, llama.cpp
 * `tools/server/server-models.cpp`): one HTTP server in front of several
 * models, each a child llama-server started on demand. What it mirrors:
 *
 * - `/health` is 200 `{"status":"ok"}` from the start, with no model loaded.
 * - `GET /models` (and `/v1/models`) lists every model with `status.value`
 *   `unloaded`, `loading` or `loaded`.
 * - `GET /props` without `?model=` is the router's own (`role: "router"`,
 *   no `total_slots`); with it, like `/slots` and `/metrics`, it is proxied
 *   to the child. A proxied GET needs `?model=` (400 without), and loads an
 *   unloaded model first unless `?autoload=false`, which answers 400
 *   `model is not loaded` instead.
 * - a POST names its model in the JSON body's `model`; an unloaded model is
 *   loaded first (`--models-autoload`, the default) and the request waits.
 * - `POST /models/load` and `/models/unload` with `{"model": …}`.
 *
 * Each child is a real simulated llama-server (its own slots and counters),
 * started when its model loads and ready after `loadMs`.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { startSimulator, type SimulatorHandle } from '../simulator.js';
import type { SimulatorOptions } from '../config.js';
import type { SimStats } from '../stats.js';
import { readBody, send, isRecord } from '../http.js';
import { unixSeconds } from '../ids.js';
import { baseHeaders, handlerError, json, NOT_FOUND } from '../llamacpp/http.js';
import { HEALTHY } from '../llamacpp/info.js';

export type RouterModelStatus = 'unloaded' | 'loading' | 'loaded';

export interface RouterOptions {
  /** The models the router lists, as `--models-dir` or a preset would name them. */
  readonly models: readonly string[];
  /** How long a child takes to load its model. */
  readonly loadMs?: number;
  /** `--models-autoload` (default true): load an unloaded model for a request that names it. */
  readonly autoload?: boolean;
  /** Settings of every child engine (slots, timing, tokens…); `kind` and `modelId` are the router's. */
  readonly child?: Omit<SimulatorOptions, 'kind' | 'modelId' | 'loadMs' | 'port'>;
  readonly host?: string;
  readonly port?: number;
}

export interface RouterHandle {
  readonly url: string;
  status(model: string): RouterModelStatus;
  /** The child's counters, once it has been started. */
  stats(model: string): SimStats | undefined;
  /** Resolves once the model's child is ready (loading it if needed). */
  load(model: string): Promise<void>;
  close(): Promise<void>;
}

interface Child {
  readonly sim: SimulatorHandle;
  loaded: boolean;
}

const MODEL_MISSING = handlerError('invalid_request_error', 'model name is missing from the request');
const NOT_LOADED = handlerError('invalid_request_error', 'model is not loaded');
const notFound = (name: string) => handlerError('invalid_request_error', `model '${name}' not found`);

/** GET paths proxied to the child named by `?model=`. */
const PROXIED_GETS = new Set(['/slots', '/metrics', '/props', '/lora-adapters']);

export async function startRouterSimulator(options: RouterOptions): Promise<RouterHandle> {
  const host = options.host ?? '127.0.0.1';
  const loadMs = options.loadMs ?? 0;
  const autoload = options.autoload ?? true;
  const children = new Map<string, Child>();
  const created = unixSeconds(Date.now());
  const known = new Set(options.models);

  function status(model: string): RouterModelStatus {
    const child = children.get(model);
    return child === undefined ? 'unloaded' : child.loaded ? 'loaded' : 'loading';
  }

  async function load(model: string): Promise<void> {
    let child = children.get(model);
    if (child === undefined) {
      const sim = await startSimulator({ ...options.child, kind: 'llamacpp', modelId: model, loadMs, host });
      child = { sim, loaded: false };
      children.set(model, child);
      const started = child;
      void sim.ready.then(() => (started.loaded = true), () => undefined);
    }
    await child.sim.ready;
  }

  function unload(model: string): void {
    const child = children.get(model);
    children.delete(model);
    void child?.sim.close();
  }

  function modelList() {
    return json({
      data: options.models.map((id) => ({
        id,
        aliases: [],
        tags: [],
        object: 'model',
        owned_by: 'llamacpp',
        created,
        in_cache: false,
        path: `/models/${id}.gguf`,
        status: { value: status(id), args: ['llama-server', '--model', `/models/${id}.gguf`] },
      })),
      object: 'list',
    });
  }

  const routerProps = json({
    role: 'router',
    max_instances: 4,
    models_autoload: autoload,
    model_alias: 'llama-server',
    model_path: 'none',
    default_generation_settings: { params: {}, n_ctx: 0 },
  });

  /** The router's model check before it proxies (`router_validate_model`); undefined when the request may go on. */
  async function admit(name: string | undefined, mayLoad: boolean) {
    if (name === undefined || name === '') return MODEL_MISSING;
    if (!known.has(name)) return notFound(name);
    if (status(name) !== 'loaded' && !mayLoad) return NOT_LOADED;
    await load(name);
    return undefined;
  }

  function proxy(model: string, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void {
    const target = new URL(children.get(model)!.sim.url);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    // A client that leaves cancels the child's request, as the router's proxy does.
    res.once('close', () => upstream.destroy());
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://router');
    const path = url.pathname;
    baseHeaders(req, res);
    void (async () => {
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (path === '/health' || path === '/v1/health') return send(res, HEALTHY);
        if (path === '/models' || path === '/v1/models') return send(res, modelList());
        if (path === '/props' && !url.searchParams.has('model')) return send(res, routerProps);
        if (!PROXIED_GETS.has(path)) return send(res, NOT_FOUND);
        const model = url.searchParams.get('model') ?? undefined;
        const autoloadParam = url.searchParams.get('autoload');
        const mayLoad = autoloadParam === null ? autoload : autoloadParam === 'true' || autoloadParam === '1';
        const refused = await admit(model, mayLoad);
        if (refused) return send(res, refused);
        return proxy(model!, req, res, undefined);
      }
      if (req.method !== 'POST') return send(res, NOT_FOUND);
      const body = await readBody(req);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return send(res, handlerError('invalid_request_error', 'invalid JSON body'));
      }
      const model = isRecord(parsed) && typeof parsed.model === 'string' ? parsed.model : undefined;
      if (path === '/models/load' || path === '/models/unload') {
        if (model === undefined || !known.has(model)) return send(res, handlerError('not_found_error', 'model is not found'));
        if (path === '/models/unload') unload(model);
        else void load(model);
        return send(res, json({ success: true }));
      }
      const refused = await admit(model, autoload);
      if (refused) return send(res, refused);
      proxy(model!, req, res, body);
    })().catch(() => res.destroy());
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve((server.address() as { port: number }).port));
  });

  return {
    url: `http://${host}:${port}`,
    status,
    stats: (model) => children.get(model)?.sim.stats(),
    load,
    async close() {
      await Promise.all([...children.values()].map((c) => c.sim.close()));
      children.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
