import type { Server } from 'node:http';
import type { Logger, RedisClient, Subscriber } from '@infergate/shared';
import type { AffinityLanes } from './affinity/lanes.js';
import type { EngineMonitor } from './engineMonitor.js';
import type { EngineClient } from './engines/index.js';
import type { HeartbeatTicker } from './heartbeatTicker.js';
import type { ModelDiscovery } from './modelDiscovery.js';
import type { Registration } from './registration.js';
import type { RunningJobs } from './runningJobs.js';

export interface ShutdownParts {
  readonly id: string;
  readonly registration: Registration;
  readonly discovery: ModelDiscovery;
  readonly lanes: AffinityLanes | undefined;
  readonly running: RunningJobs;
  readonly heartbeats: HeartbeatTicker;
  readonly monitor: EngineMonitor;
  readonly engine: EngineClient;
  readonly status: Server;
  readonly control: Subscriber;
  readonly commands: RedisClient;
}

/**
 * The drain before exit: pull nothing more and say so in the registry, let
 * running jobs finish within the drain budget, stop the rest with an error
 * their clients are told (`shutting_down`), then leave the registry and
 * close every connection.
 */
export class Shutdown {
  private started = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly drainTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  get draining(): boolean {
    return this.started;
  }

  /** Runs once; a second call waits for the first. */
  run(parts: ShutdownParts): Promise<void> {
    this.started = true;
    this.done ??= this.drain(parts);
    return this.done;
  }

  private async drain(p: ShutdownParts): Promise<void> {
    // The registry hears of the drain while the consumers stop.
    await Promise.all([p.discovery.stopPulling(), p.registration.beat()]);
    // What waits in this engine's lanes is served elsewhere rather than after the drain.
    await p.lanes?.drain();
    await p.running.whenIdle(this.drainTimeoutMs);
    p.running.abortAll('shutting_down');
    p.heartbeats.stop();
    p.monitor.stop();
    await p.discovery.close();
    await p.lanes?.close();
    await p.registration.deregister(p.id);
    await p.engine.close();
    p.status.close();
    p.control.close();
    // A connection that cannot say QUIT (Redis is away) is dropped instead.
    await p.commands.quit().catch(() => p.commands.disconnect());
    this.logger.info('dispatcher stopped');
  }
}
