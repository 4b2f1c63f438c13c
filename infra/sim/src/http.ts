import type { IncomingMessage, ServerResponse } from 'node:http';

/** Status line plus headers as a flat [name, value, …] list, so names keep the engine's spelling and order. */
export interface Head {
  readonly status: number;
  readonly headers: readonly string[];
}

export interface Reply extends Head {
  readonly body: string;
}

export function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers as string[]);
  res.end(reply.body);
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request body aborted'));
    });
  });
}

/** Runs `fn` if the client goes away before the response has been fully written. */
export function onClientGone(res: ServerResponse, fn: () => void): void {
  res.once('close', () => {
    if (!res.writableFinished) fn();
  });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
