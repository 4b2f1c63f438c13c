import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logger.js';
import { ErrorEpisode, InternalFailures } from './internalFailures.js';

function capture() {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const logger = createLogger({ name: 'test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { logger, lines };
}

describe('internal failures', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('are logged at warn with their context and counted by operation', () => {
    const { logger, lines } = capture();
    const counted: string[] = [];
    const failures = new InternalFailures<'job_fate_write'>(logger, { internalFailure: (op) => counted.push(op) });
    failures.report('job_fate_write', new Error('Connection is closed.'), 'could not record', { rid: 'r1' });
    expect(counted).toEqual(['job_fate_write']);
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'could not record', rid: 'r1', operation: 'job_fate_write', err: 'Connection is closed.' })]);
  });

  it('counts every failure, logs the first of each operation at warn, and the recovery once', () => {
    const { logger, lines } = capture();
    const counted: string[] = [];
    const failures = new InternalFailures(logger, { internalFailure: (operation: string) => counted.push(operation) });
    for (let i = 0; i < 5; i++) failures.report('redis_connection', new Error('ECONNREFUSED'), 'redis connection error', { connection: 'commands' });
    failures.report('cancel_publish', new Error('Connection is closed.'), 'cancel not published', { rid: 'r1' });
    failures.recovered();
    failures.recovered();
    failures.report('redis_connection', new Error('ETIMEDOUT'), 'redis connection error');
    expect(counted).toEqual([...Array<string>(5).fill('redis_connection'), 'cancel_publish', 'redis_connection']);
    expect(lines.map((l) => [l.level, l.operation ?? l.operations, l.err])).toEqual([
      [40, 'redis_connection', 'ECONNREFUSED'],
      [40, 'cancel_publish', 'Connection is closed.'],
      [30, ['redis_connection', 'cancel_publish'], undefined],
      [40, 'redis_connection', 'ETIMEDOUT'],
    ]);
  });

  it('warns again, with how many it hid, when an operation still fails a minute later with nothing recovered', () => {
    vi.useFakeTimers();
    const { logger, lines } = capture();
    const failures = new InternalFailures<'engine_read'>(logger);
    for (let i = 0; i < 4; i++) failures.report('engine_read', new Error('ECONNRESET'), 'engine read failed');
    vi.advanceTimersByTime(60_000);
    failures.report('engine_read', new Error('ECONNRESET'), 'engine read failed');
    expect(lines.map((l) => [l.level, l.hidden])).toEqual([
      [40, undefined],
      [40, 3],
    ]);
  });

  it('an outage of many errors is one warning and one recovery line at the default level; the next outage warns again', () => {
    const { logger, lines } = capture();
    const episode = new ErrorEpisode(logger, 'redis connection error', { connection: 'commands' }, 'redis reconnected');
    for (let i = 0; i < 50; i++) episode.error(new Error('connect ECONNREFUSED'));
    episode.recovered();
    episode.recovered();
    episode.error(new Error('read ECONNRESET'));
    expect(lines.map((l) => [l.level, l.msg, l.errors])).toEqual([
      [40, 'redis connection error', undefined],
      [30, 'redis reconnected', 50],
      [40, 'redis connection error', undefined],
    ]);
    expect(lines[0]).toMatchObject({ connection: 'commands', err: 'connect ECONNREFUSED' });
  });
});
