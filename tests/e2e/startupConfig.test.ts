import { describe, expect, it } from 'vitest';
import { startService } from '../support/services.js';

/* A bad configuration stops a process at start-up with a message naming every bad variable. */

describe('start-up configuration errors', () => {
  it('a dispatcher without ENGINE_URL and with a malformed port exits 78 naming both', async () => {
    const d = startService('dispatcher', { ENGINE_URL: '', STATUS_PORT: 'ninety' });
    expect(await d.exited).toBe(78);
    expect(d.output()).toMatch(/ENGINE_URL: is required/);
    expect(d.output()).toMatch(/STATUS_PORT:/);
  });

  it('an ingress with a malformed REDIS_URL exits 78 naming it', async () => {
    const i = startService('ingress', { REDIS_URL: 'localhost:6379', ALLOW_OPEN_ACCESS: 'true' });
    expect(await i.exited).toBe(78);
    expect(i.output()).toMatch(/REDIS_URL: must start with redis:\/\/ or rediss:\/\//);
  });
});
