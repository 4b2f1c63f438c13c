import { createServer } from 'node:net';

/**
 * Ports handed out lie below Linux's default ephemeral range (32768–60999):
 * a port the kernel picked with listen(0) is also one it may give the next
 * outgoing connection (to Redis, to an engine) before the service binds it,
 * which failed runs with EADDRINUSE when many processes start at once.
 */
const LOW = 20_000;
const HIGH = 32_000;

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port that was free a moment ago on loopback. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH}`);
}
