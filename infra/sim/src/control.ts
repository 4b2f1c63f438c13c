/*
 * /__sim/*: the simulator's own control surface, so a test can steer a
 * simulator running in another process. It is not part of either engine's
 * API and ignores the loading phase.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, type SimulatorConfig, type SimulatorPatch } from './config.js';
import { readBody } from './http.js';
import type { SimStats } from './stats.js';

export interface Controllable {
  config(): SimulatorConfig;
  configure(patch: SimulatorPatch): SimulatorConfig;
  stats(): SimStats;
  resetStats(): void;
}

function reply(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function configure(sim: Controllable, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let patch: unknown;
  try {
    patch = JSON.parse((await readBody(req)).toString('utf8'));
  } catch {
    return reply(res, 400, { error: 'body must be a JSON object' });
  }
  try {
    reply(res, 200, sim.configure(patch as SimulatorPatch));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    reply(res, 400, { error: err.message });
  }
}

export function handleControl(sim: Controllable, req: IncomingMessage, res: ServerResponse, path: string): void {
  const route = `${req.method} ${path}`;
  if (route === 'GET /__sim/stats') return reply(res, 200, sim.stats());
  if (route === 'GET /__sim/config') return reply(res, 200, sim.config());
  if (route === 'POST /__sim/config') return void configure(sim, req, res);
  if (route === 'POST /__sim/reset-stats') {
    sim.resetStats();
    return reply(res, 200, sim.stats());
  }
  reply(res, 404, { error: `no simulator control at ${route}` });
}
