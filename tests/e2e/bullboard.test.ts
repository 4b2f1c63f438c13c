import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { redisNames, type JobSummary } from '@infergate/shared';
import { startTestFleet, type TestFleet } from '../support/fleet.js';
import { waitFor } from '../support/services.js';

/*
 * The queue UI (bull-board under /admin/queues) in a real headless Chromium:
 * it must list the model queue the registry knows and show a job waiting in
 * it. The browser sends the admin key as a header on every request, its API
 * calls included. The screenshot is kept as test-artifacts/bullboard-queue.png.
 *
 * Needs Debian's Chromium (`apt-get install -y chromium`); without
 * /usr/bin/chromium the test is skipped, saying so.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const MODEL = 'board-model';
const KEY = 'board-test-key-0123456789';
const PROMPT = 'a secret prompt';
const haveChromium = existsSync(CHROMIUM);

let fleet: TestFleet;
let browser: Browser;
let url: string;

async function admin<T>(method: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { method, headers: { 'x-api-key': KEY } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

describe.skipIf(!haveChromium)('queue UI in headless Chromium', () => {
  beforeAll(async () => {
    [fleet, browser] = await Promise.all([
      startTestFleet({
        sims: [{ kind: 'llamacpp', slots: 1, ttftMs: 10, itlMs: 5, tokens: 8, modelId: MODEL }],
        ingressEnv: { ADMIN_API_KEY: KEY },
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true }),
    ]);
    url = fleet.ingresses[0]!.url;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
  });

  it('challenges a browser without the key, and opens for the key given as basic-auth password', async () => {
    const anonymous = await browser.newContext();
    const res = await anonymous.request.get(`${url}/admin/queues`);
    expect(res.status()).toBe(401);
    expect(res.headers()['www-authenticate']).toMatch(/^Basic realm="infergate admin"/);
    await anonymous.close();

    // What a person does: the browser prompts on the challenge, then sends the credentials with every request.
    const person = await browser.newContext({ httpCredentials: { username: 'ops', password: KEY } });
    const page = await person.newPage();
    expect((await page.goto(`${url}/admin/queues`))?.status()).toBe(200);
    await expect.poll(async () => page.getByText(MODEL, { exact: true }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await person.close();
  });

  it('lists the model queue and a job waiting in it', async () => {
    await admin('POST', `/admin/api/queues/${MODEL}/pause`);
    const answer = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: PROMPT }] }),
    });
    const job = await waitFor(async () => (await admin<{ data: JobSummary[] }>('GET', `/admin/api/queues/${MODEL}/jobs`)).data[0], 10_000, 'a waiting job');

    const context = await browser.newContext({ extraHTTPHeaders: { 'x-api-key': KEY }, viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(`${url}/admin/queues`);
      // The overview shows each queue under its model name; it links to the queue's page.
      await page.getByText(MODEL, { exact: true }).first().click();
      await page.waitForURL(/\/admin\/queues\/queue\//);
      await page.goto(`${page.url().split('?')[0]}?status=${job.state}`);
      await expect.poll(async () => page.getByText(job.id).count(), { timeout: 15_000 }).toBeGreaterThan(0);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}bullboard-queue.png`, fullPage: true });
      expect(await page.content()).not.toContain(PROMPT);

      // The board's own API, which the page polls, shows only routing metadata of a job.
      const queueName = redisNames(fleet.prefix).queueName(MODEL);
      const api = await page.request.get(`${url}/admin/queues/api/queues?activeQueue=${encodeURIComponent(queueName)}&status=${job.state}&page=1`);
      expect(api.status()).toBe(200);
      const body = await api.text();
      expect(body).toContain(job.id);
      expect(body).not.toContain(PROMPT);
      expect(body).not.toContain('"body"');
    } finally {
      await context.close();
      await admin('POST', `/admin/api/jobs/${job.id}/cancel`);
      expect((await answer).status).toBe(503);
      await admin('POST', `/admin/api/queues/${MODEL}/resume`);
    }
  });
});

if (!haveChromium) it.skip(`queue UI browser test: ${CHROMIUM} is missing (apt-get install -y chromium)`, () => undefined);
