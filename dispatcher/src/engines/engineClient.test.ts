import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineClient } from './engineClient.js';

/*
 * Which of the engine's load is ours: the count the monitor subtracts from
 * what the engine reports busy to find outside load.
 */

let server: Server;
let client: EngineClient;
/** Responses the engine holds open, in arrival order. */
const held: ServerResponse[] = [];

beforeEach(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new EngineClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterEach(async () => {
  for (const res of held.splice(0)) res.end();
  await client.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const forward = () => client.request({ method: 'POST', path: '/v1/chat/completions', body: '{}' });
const nothing = async () => undefined;

describe('engine client: our requests on the engine', () => {
  it('counts a forwarded request until its response ends', async () => {
    const res = await forward();
    expect((await client.measure(nothing)).sure).toBe(1);
    held[0]!.end('data: [DONE]\n\n');
    await res.body.text();
    expect((await client.measure(nothing)).sure).toBe(0);
  });

  it('stops counting a request whose client gave up on it', async () => {
    const res = await forward();
    res.body.destroy();
    await new Promise((r) => setImmediate(r));
    expect((await client.measure(nothing)).sure).toBe(0);
  });

  it('does not count a request that starts or ends during the reading', async () => {
    const ending = await forward();
    const staying = await forward();
    let started: Awaited<ReturnType<typeof forward>> | undefined;
    const measured = await client.measure(async () => {
      held[0]!.end();
      await ending.body.text();
      started = await forward();
      return 'engine load';
    });
    expect(measured).toEqual({ reading: 'engine load', sure: 1, unsure: 2 });
    expect((await client.measure(nothing)).sure).toBe(2);
    staying.body.destroy();
    started!.body.destroy();
  });

  it('does not count a request the engine never took', async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await expect(forward()).rejects.toThrow();
    expect((await client.measure(nothing)).sure).toBe(0);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
});
