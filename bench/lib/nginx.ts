import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@infergate/stack';

/*
 * Debian's nginx as a plain streaming reverse proxy, the baseline an
 * operator would otherwise deploy: a generated config in a private folder,
 * in the foreground. `master_process off` makes the one process we start the
 * one that proxies, so its CPU and memory can be read from /proc.
 */

export interface NginxUpstream {
  readonly url: string;
  readonly weight?: number;
}

export interface Nginx {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export const NGINX_MISSING = 'nginx is not installed (apt-get install -y nginx-light), so the nginx arm was skipped.';

export function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
}

export async function startNginx(upstreams: readonly NginxUpstream[], options: { leastConn?: boolean } = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'ig-bench-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'master_process off;',
      `pid ${join(dir, 'nginx.pid')};`,
      'error_log stderr warn;',
      'events { worker_connections 8192; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
      '  upstream engines {',
      ...(options.leastConn ? ['    least_conn;'] : []),
      ...upstreams.map((u) => `    server ${new URL(u.url).host}${u.weight ? ` weight=${u.weight}` : ''};`),
      '    keepalive 512;',
      '  }',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      '      proxy_pass http://engines;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      // Tokens must reach the client as the engine sends them.
      '      proxy_buffering off;',
      '      proxy_read_timeout 300s;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not start:\n${errors}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid!, stop };
}
