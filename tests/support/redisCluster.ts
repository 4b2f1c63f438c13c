import { inspect } from 'node:util';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '@infergate/stack';

/*
 * Real Redis deployments for one test file, started from the installed
 * `redis-server` and `redis-cli` on loopback and stopped by the test: a
 * 6-node Cluster (3 masters, 3 replicas) here, Sentinel in redisSentinel.ts.
 */

export function hasRedisBinaries(): boolean {
  return ['redis-server', 'redis-cli'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** Distinct free ports; freePort alone may hand out one twice in a row. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** A connection for inspecting one node: no retries, so a dead node fails at once. */
export function adminConnection(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

/** Runs one command on one node and disconnects. */
export async function ask(port: number, ...args: Array<string | number>): Promise<unknown> {
  const client = adminConnection(port);
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

export async function poll<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError instanceof Error ? String(lastError) : inspect(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** redis-server processes this test owns, killed with the test process at the latest. */
export class RedisProcesses {
  readonly dir = mkdtempSync(join(tmpdir(), 'ig-redis-'));
  private readonly children = new Map<number, ChildProcess>();
  private readonly killAll = () => {
    for (const child of this.children.values()) child.kill('SIGKILL');
  };

  constructor() {
    process.once('exit', this.killAll);
  }

  /** Starts `redis-server <args…>` serving `port` and resolves once it answers PING. */
  async start(port: number, args: readonly string[]): Promise<void> {
    const child = spawn('redis-server', [...args], { stdio: 'ignore' });
    this.children.set(port, child);
    await poll(async () => ((await ask(port, 'PING')) === 'PONG' ? true : undefined), 10_000, `redis-server on ${port}`, 25);
  }

  /** Arguments of a throwaway data node on `port`: loopback, nothing persisted, a roomy pub/sub buffer. */
  serverArgs(port: number): string[] {
    return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
      '--client-output-buffer-limit', 'pubsub', '256mb', '64mb', '60'];
  }

  pids(): number[] {
    return [...this.children.values()].flatMap((c) => (c.pid === undefined || c.exitCode !== null ? [] : [c.pid]));
  }

  alive(port: number): boolean {
    const child = this.children.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async kill(port: number): Promise<void> {
    const child = this.children.get(port);
    this.children.delete(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.keys()].map((port) => this.kill(port)));
    process.off('exit', this.killAll);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly master: boolean;
  /** Marked failed (FAIL) by the cluster. */
  readonly failed: boolean;
  /** The master a replica follows. */
  readonly masterId: string | undefined;
  readonly slots: ReadonlyArray<readonly [number, number]>;
}

export interface TestRedisCluster {
  readonly ports: readonly number[];
  /** REDIS_CLUSTER_NODES for infergate: every node as a seed. */
  readonly seeds: string;
  /** The cluster's view (CLUSTER NODES) from a live node. */
  nodes(): Promise<ClusterNode[]>;
  /** The master serving `key`'s slot (CLUSTER KEYSLOT + CLUSTER NODES). */
  masterOf(key: string): Promise<ClusterNode>;
  alive(port: number): boolean;
  /** Process ids of the live nodes, for CPU accounting. */
  pids(): number[];
  /** SIGKILLs the node on `port`. */
  kill(port: number): Promise<void>;
  /** Resolves with the replica that took over a killed master's slots, once every live node reports cluster_state:ok. */
  waitForFailover(port: number, timeoutMs?: number): Promise<ClusterNode>;
  stop(): Promise<void>;
}

function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      const flagSet = new Set(flags!.split(','));
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address!)![1]),
        master: flagSet.has('master'),
        failed: flagSet.has('fail'),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from!, to ?? from!] as const;
          }),
      };
    });
}

/**
 * Six nodes on loopback, each with its own cluster-bus port, joined by
 * `redis-cli --cluster create … --cluster-replicas 1`. `nodeTimeoutMs` is how
 * long a silent master takes to be declared failed.
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
  const processes = new RedisProcesses();
  const allPorts = await freePorts(12);
  const ports = allPorts.slice(0, 6);
  try {
    await Promise.all(
      ports.map((port, i) =>
        processes.start(port, [
          ...processes.serverArgs(port),
          '--cluster-enabled', 'yes',
          '--cluster-port', String(allPorts[6 + i]),
          '--cluster-config-file', join(processes.dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2_000),
          // A test's replica may be promoted however briefly it was linked.
          '--cluster-replica-validity-factor', '0',
        ]),
      ),
    );
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    await poll(
      async () => {
        for (const port of ports) {
          const info = String(await ask(port, 'CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_known_nodes:6')) return undefined;
        }
        const replicas = parseClusterNodes(String(await ask(ports[0]!, 'CLUSTER', 'NODES'))).filter((n) => !n.master);
        for (const r of replicas) if (!String(await ask(r.port, 'INFO', 'replication')).includes('master_link_status:up')) return undefined;
        return replicas.length === 3 ? true : undefined;
      },
      30_000,
      'cluster_state:ok with every replica linked',
    );
  } catch (err) {
    await processes.stop();
    throw err;
  }

  const livePort = () => {
    const port = ports.find((p) => processes.alive(p));
    if (port === undefined) throw new Error('no cluster node is alive');
    return port;
  };
  const nodes = async () => parseClusterNodes(String(await ask(livePort(), 'CLUSTER', 'NODES')));
  const masterOf = async (key: string) => {
    const slot = Number(await ask(livePort(), 'CLUSTER', 'KEYSLOT', key));
    const owner = (await nodes()).find((n) => n.master && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no live master serves slot ${slot} (${key})`);
    return owner;
  };
  /** The first slot each killed master served, to find its heir. */
  const slotOfKilled = new Map<number, number>();
  return {
    ports,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    nodes,
    masterOf,
    alive: (port) => processes.alive(port),
    pids: () => processes.pids(),
    async kill(port) {
      const victim = (await nodes()).find((n) => n.port === port);
      if (victim?.master && victim.slots[0]) slotOfKilled.set(port, victim.slots[0][0]);
      await processes.kill(port);
    },
    async waitForFailover(port, timeoutMs = 20_000) {
      const slot = slotOfKilled.get(port);
      if (slot === undefined) throw new Error(`no master on ${port} was killed`);
      return poll(
        async () => {
          const heir = (await nodes()).find(
            (n) => n.master && !n.failed && n.port !== port && n.slots.some(([from, to]) => slot >= from && slot <= to),
          );
          if (!heir) return undefined;
          for (const p of ports) {
            if (processes.alive(p) && !String(await ask(p, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined;
          }
          return heir;
        },
        timeoutMs,
        `failover of the master on ${port}`,
      );
    },
    stop: () => processes.stop(),
  };
}
