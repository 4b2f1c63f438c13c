import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@infergate/shared';
import { InternalFailures } from './internalFailures.js';

/** A logger at the default level whose lines the test reads back. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string; operation?: string; err?: string; operations?: string[] }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'info', destination }), lines };
}

describe('internal failures', () => {
  it('counts every failure, logs the first of each operation at warn, and the recovery once', () => {
    const { logger, lines } = capturedLogger();
    const counted: string[] = [];
    const failures = new InternalFailures(logger, { internalFailure: (operation) => counted.push(operation) });
    for (let i = 0; i < 5; i++) failures.report('redis_connection', new Error('ECONNREFUSED'), { connection: 'commands' });
    failures.report('cancel_publish', new Error('Connection is closed.'), { rid: 'r1' });
    failures.recovered();
    failures.recovered();
    failures.report('redis_connection', new Error('ETIMEDOUT'));
    expect(counted).toEqual([...Array<string>(5).fill('redis_connection'), 'cancel_publish', 'redis_connection']);
    expect(lines.map((l) => [l.level, l.operation ?? l.operations, l.err])).toEqual([
      [40, 'redis_connection', 'ECONNREFUSED'],
      [40, 'cancel_publish', 'Connection is closed.'],
      [30, ['redis_connection', 'cancel_publish'], undefined],
      [40, 'redis_connection', 'ETIMEDOUT'],
    ]);
  });
});
