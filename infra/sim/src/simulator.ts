/*
 * Assembles one simulated engine: settings, slot pool, counters, the chosen
 * personality and the HTTP server, plus its lifecycle — the loading phase,
 * runtime reconfiguration, shutdown, and the 'exit' fault that kills it.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Logger } from '@infergate/shared';
import { parsePatch, resolveConfig, type EngineKind, type SimulatorConfig, type SimulatorOptions, type SimulatorPatch } from './config.js';
import { handleControl } from './control.js';
import type { SimEnv } from './env.js';
import { createLlamacpp } from './llamacpp/index.js';
import { LlamaPromptCache } from './llamacpp/promptCache.js';
import { SlotPool } from './slots.js';
import { EngineTotals, Stats, type SimStats } from './stats.js';
import { Vocab } from './tokenizer.js';
import { createVllm } from './vllm/index.js';
import { BlockPrefixCache } from './vllm/prefixCache.js';

export interface StartOptions extends SimulatorOptions {
  /** Lifecycle events only (ready, reconfigured, died); never per request or per token. */
  readonly logger?: Logger;
}

export interface SimulatorHandle {
  readonly kind: EngineKind;
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, known at once even for vLLM, which only listens once loaded. */
  readonly url: string;
  /** Resolves when the engine has loaded: llama.cpp's /health turns 200, vLLM starts listening. */
  readonly ready: Promise<void>;
  /** Resolves once the simulator has stopped, by close() or by a dieMode 'exit' fault. */
  readonly stopped: Promise<void>;
  config(): SimulatorConfig;
  /** Changes settings at once (also for requests in flight); throws ConfigError on a bad value. */
  configure(patch: SimulatorPatch): SimulatorConfig;
  stats(): SimStats;
  resetStats(): void;
  /** The W3C trace context of the latest requests that carried one (up to TRACE_CONTEXTS_KEPT), oldest first. */
  traceContexts(): readonly ReceivedTraceContext[];
  close(): Promise<void>;
}

/** A request's trace headers as the engine received them (vLLM reads them when it traces; llama-server ignores them). */
export interface ReceivedTraceContext {
  readonly path: string;
  readonly requestId: string | undefined;
  readonly traceparent: string;
  readonly tracestate: string | undefined;
}

const TRACE_CONTEXTS_KEPT = 100;

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

async function freePort(host: string): Promise<number> {
  const probe = createNetServer();
  const port = await new Promise<number>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, () => resolve((probe.address() as { port: number }).port));
  });
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

export async function startSimulator(options: StartOptions): Promise<SimulatorHandle> {
  const { logger, ...settings } = options;
  const config: SimulatorConfig = resolveConfig(settings);
  const pool = new SlotPool(config.slots);
  const stats = new Stats(pool);
  const running = new Set<() => void>();
  let ready = false;
  let stopped = false;
  let taskId = 0;
  const traceContexts: ReceivedTraceContext[] = [];

  const env: SimEnv = {
    config,
    pool,
    cache: config.kind === 'llamacpp' ? new LlamaPromptCache(config) : new BlockPrefixCache(config, () => pool.size),
    stats,
    totals: new EngineTotals(),
    vocab: new Vocab(),
    startedAtMs: Date.now(),
    get ready() {
      return ready;
    },
    nextTaskId: () => ++taskId,
    track(stop) {
      running.add(stop);
      return () => running.delete(stop);
    },
    die() {
      logger?.warn({ kind: config.kind }, 'simulated engine died (dieMode exit)');
      if (config.exitProcess) process.exit(1);
      shutdown();
    },
  };

  const personality = config.kind === 'llamacpp' ? createLlamacpp(env) : createVllm(env);
  let port = 0;
  let readyPromise: Promise<void> = Promise.resolve();
  let markStopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => (markStopped = resolve));
  const handle: SimulatorHandle = {
    kind: config.kind,
    host: config.host,
    get port() {
      return port;
    },
    get url() {
      return `http://${config.host}:${port}`;
    },
    get ready() {
      return readyPromise;
    },
    stopped: stoppedPromise,
    config: () => ({ ...config, extraModelNames: [...config.extraModelNames] }),
    configure(patch) {
      const change = parsePatch(patch);
      Object.assign(config, change);
      if (change.slots !== undefined) pool.resize(change.slots);
      logger?.info({ change }, 'simulator reconfigured');
      return handle.config();
    },
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    traceContexts: () => [...traceContexts],
    close: async () => {
      shutdown();
      await handle.stopped;
    },
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path.startsWith('/__sim/')) return handleControl(handle, req, res, path);
    const { traceparent, tracestate } = req.headers;
    if (typeof traceparent === 'string') {
      traceContexts.push({ path, requestId: header(req.headers['x-request-id']), traceparent, tracestate: header(tracestate) });
      if (traceContexts.length > TRACE_CONTEXTS_KEPT) traceContexts.shift();
    }
    personality.handle(req, res, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
  });

  let loadTimer: NodeJS.Timeout | undefined;
  let failLoading: (err: Error) => void = () => undefined;

  function shutdown(): void {
    if (stopped) return;
    stopped = true;
    clearTimeout(loadTimer);
    failLoading(new Error('simulator stopped before it was ready'));
    for (const stop of [...running]) stop();
    if (!server.listening) return markStopped();
    server.close(() => markStopped());
    server.closeAllConnections();
  }

  const loaded = (): void => {
    ready = true;
    logger?.info({ kind: config.kind, url: handle.url }, 'simulated engine ready');
  };
  // llama.cpp serves 503s while loading; vLLM does not listen before it is ready.
  const listenNow = config.kind === 'llamacpp' || config.loadMs === 0;
  port = listenNow ? await listen(server, config.port, config.host) : config.port || (await freePort(config.host));
  if (config.loadMs === 0) {
    loaded();
    return handle;
  }
  readyPromise = new Promise<void>((resolve, reject) => {
    failLoading = reject;
    loadTimer = setTimeout(() => {
      const done = (): void => {
        loaded();
        resolve();
      };
      if (server.listening) return done();
      listen(server, port, config.host).then(done, reject);
    }, config.loadMs);
  });
  // Callers may never await readiness; a stop during loading must not become an unhandled rejection.
  readyPromise.catch(() => undefined);
  return handle;
}
