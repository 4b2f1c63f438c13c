import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ask, freePorts, poll, RedisProcesses } from './redisCluster.js';

/*
 * Redis Sentinel on loopback for one test file: a master, one replica and
 * three sentinels (quorum 2), started from the installed `redis-server`.
 */

export interface TestRedisSentinel {
  readonly masterName: string;
  /** REDIS_SENTINELS for infergate. */
  readonly sentinels: string;
  /** Port of the master the sentinels currently name. */
  masterPort(): Promise<number>;
  alive(port: number): boolean;
  /** SIGKILLs the server on `port`. */
  kill(port: number): Promise<void>;
  /** Resolves with the new master's port once every sentinel names a master other than `port`. */
  waitForFailover(port: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

const MASTER_NAME = 'mymaster';

export async function startRedisSentinel(options: { downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<TestRedisSentinel> {
  const processes = new RedisProcesses();
  const [masterPort, replicaPort, ...sentinelPorts] = await freePorts(5);
  const sentinelsOf = async (port: number) => {
    const master = (await ask(port, 'SENTINEL', 'MASTER', MASTER_NAME)) as string[];
    const field = (name: string) => master[master.indexOf(name) + 1];
    return { port: Number(field('port')), otherSentinels: Number(field('num-other-sentinels')), replicas: Number(field('num-slaves')) };
  };
  try {
    await processes.start(masterPort!, processes.serverArgs(masterPort!));
    await processes.start(replicaPort!, [...processes.serverArgs(replicaPort!), '--replicaof', '127.0.0.1', String(masterPort)]);
    await poll(
      async () => (String(await ask(replicaPort!, 'INFO', 'replication')).includes('master_link_status:up') ? true : undefined),
      10_000,
      'the replica to link',
    );
    await Promise.all(
      sentinelPorts.map((port) => {
        // Sentinel rewrites its configuration file, so each gets its own.
        const conf = join(processes.dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${processes.dir}`,
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1_000}`,
            `sentinel failover-timeout ${MASTER_NAME} ${options.failoverTimeoutMs ?? 3_000}`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        return processes.start(port, [conf, '--sentinel']);
      }),
    );
    // A failover needs a quorum of sentinels that know each other and the replica.
    await poll(
      async () => {
        for (const port of sentinelPorts) {
          const view = await sentinelsOf(port);
          if (view.otherSentinels < 2 || view.replicas < 1) return undefined;
        }
        return true;
      },
      20_000,
      'sentinels to discover each other and the replica',
      100,
    );
  } catch (err) {
    await processes.stop();
    throw err;
  }

  const liveSentinels = () => sentinelPorts.filter((p) => processes.alive(p));
  return {
    masterName: MASTER_NAME,
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    masterPort: async () => (await sentinelsOf(liveSentinels()[0]!)).port,
    alive: (port) => processes.alive(port),
    kill: (port) => processes.kill(port),
    waitForFailover(port, timeoutMs = 20_000) {
      return poll(
        async () => {
          const named = new Set<number>();
          for (const s of liveSentinels()) named.add((await sentinelsOf(s)).port);
          const [master] = [...named];
          if (named.size !== 1 || master === port) return undefined;
          return String(await ask(master!, 'ROLE')).startsWith('master') ? master : undefined;
        },
        timeoutMs,
        `sentinels to promote a replica of ${port}`,
      );
    },
    stop: () => processes.stop(),
  };
}
