import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/*
 * A Redis for the local stack or one test file: the given URL when there is
 * one; else a private redis-server on a free port (which fault tests may kill
 * and restart); else a testcontainers Redis where a Docker engine exists.
 */

export interface RedisHandle {
  readonly url: string;
  /** True when this file owns the server process and may kill or restart it. */
  readonly controllable: boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface LocalServerOptions {
  readonly extraArgs?: readonly string[];
  /** Disables the default user and creates this one (all commands, keys and channels). */
  readonly acl?: { readonly user: string; readonly password: string };
  /** Serves TLS only; the certificate file doubles as the CA clients trust. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** A redis-server in a process group of its own, out of reach of a terminal's Ctrl-C (see SpawnOptions). */
  readonly ownProcessGroup?: boolean;
}

async function waitForPing(url: string, ca: Buffer | undefined, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...(ca ? { tls: { ca } } : {}),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    } finally {
      client.disconnect();
    }
  }
}

async function startLocalServer({ extraArgs = [], acl, tls, ownProcessGroup = false }: LocalServerOptions): Promise<RedisHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ig-redis-'));
  const userinfo = acl ? `${encodeURIComponent(acl.user)}:${encodeURIComponent(acl.password)}@` : '';
  const url = `${tls ? 'rediss' : 'redis'}://${userinfo}127.0.0.1:${port}`;
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
        '--tls-ca-cert-file', tls.certFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const users = acl ? ['--user', 'default', 'off', '--user', acl.user, 'on', `>${acl.password}`, '~*', '&*', '+@all'] : [];
  const ca = tls ? readFileSync(tls.certFile) : undefined;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      'redis-server',
      [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
        '--client-output-buffer-limit', 'pubsub', '256mb', '64mb', '60', ...users, ...extraArgs],
      { stdio: 'ignore', detached: ownProcessGroup },
    );
    await waitForPing(url, ca);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await launch();
  return {
    url,
    controllable: true,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startContainer(): Promise<RedisHandle> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  return {
    url: container.getConnectionUrl(),
    controllable: false,
    kill: () => Promise.reject(new Error('cannot kill a container Redis from a test')),
    restart: () => Promise.reject(new Error('cannot restart a container Redis from a test')),
    stop: async () => {
      await container.stop();
    },
  };
}

export class NoRedisError extends Error {
  constructor() {
    super(
      'No Redis available: set REDIS_URL, install redis-server (e.g. `apt-get install redis-server`, `brew install redis`), or run a Docker engine.',
    );
    this.name = 'NoRedisError';
  }
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function provideRedis(options: LocalServerOptions & { url?: string } = {}): Promise<RedisHandle> {
  const external = options.url;
  if (external) {
    return {
      url: external,
      controllable: false,
      kill: () => Promise.reject(new Error('REDIS_URL is external; it cannot be killed')),
      restart: () => Promise.reject(new Error('REDIS_URL is external; it cannot be restarted')),
      stop: async () => undefined,
    };
  }
  if (hasRedisServer()) return startLocalServer(options);
  if (options.acl || options.tls) throw new Error('Redis with an ACL user or TLS needs a local redis-server');
  if (await dockerAvailable()) return startContainer();
  throw new NoRedisError();
}
