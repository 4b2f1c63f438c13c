import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { ErrorEpisode, internalFailures } from './internalFailures.js';

function capture() {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const logger = createLogger({ name: 'test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { logger, lines };
}

describe('internal failures', () => {
  it('are logged at warn with their context and counted by operation', () => {
    const { logger, lines } = capture();
    const counted: string[] = [];
    const failures = internalFailures<'job_fate_write'>(logger, (op) => counted.push(op));
    failures.report('job_fate_write', new Error('Connection is closed.'), 'could not record', { rid: 'r1' });
    expect(counted).toEqual(['job_fate_write']);
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'could not record', rid: 'r1', operation: 'job_fate_write', err: 'Connection is closed.' })]);
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
