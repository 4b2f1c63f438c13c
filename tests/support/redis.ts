import { provideRedis, type RedisHandle } from '@infergate/stack';

export type TestRedis = RedisHandle;

/**
 * A Redis for one test file: REDIS_URL when the environment sets one, else a
 * private server this file may kill and restart (see the stack's provider).
 */
export function startTestRedis(options: { extraArgs?: readonly string[] } = {}): Promise<TestRedis> {
  return provideRedis({ ...options, ...(process.env.REDIS_URL ? { url: process.env.REDIS_URL } : {}) });
}

/** A prefix no other test uses, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `t${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
