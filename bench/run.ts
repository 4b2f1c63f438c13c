import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { overheadScenario, type OverheadRow } from './scenarios/overhead.js';

/*
 * `npm run bench`: every scenario, each with its baseline measured in the
 * same run, written to bench/results/ as JSON and a markdown report.
 */

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'results');
const quick = process.argv.includes('--quick');

function overheadTable(rows: readonly OverheadRow[]): string {
  const lines = [
    '| load | requests (direct / infergate) | TTFT p50 direct | TTFT p50 infergate | **added p50** | TTFT p99 direct | TTFT p99 infergate | **added p99** | ITL p50 direct / infergate | failed |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.load} | ${r.requests.direct} / ${r.requests.infergate} | ${r.ttftMs.direct.p50} | ${r.ttftMs.infergate.p50} | **${r.ttftMs.added.p50}** | ${r.ttftMs.direct.p99} | ${r.ttftMs.infergate.p99} | **${r.ttftMs.added.p99}** | ${r.itlMs.direct.p50} / ${r.itlMs.infergate.p50} | ${r.failed.direct} / ${r.failed.infergate} |`,
    );
  }
  return lines.join('\n');
}

const startedAt = new Date();
const overhead = await overheadScenario({
  durationMs: quick ? 3_000 : 8_000,
  closedLoop: [1, 16, 64],
  openLoop: quick ? [50] : [50, 150, 300],
});

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
const results = { startedAt: startedAt.toISOString(), machine, overhead };
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const report = [
  '# infergate benchmark report',
  '',
  `Run ${startedAt.toISOString()} on ${machine}. Everything on one machine: load generator, simulated engine, Redis, ingress, dispatcher. Reproduce with \`npm run bench\`.`,
  '',
  '## Added latency (infergate vs. the engine directly, same run)',
  '',
  'Simulated llama.cpp engine: 20 ms to first token, 32 tokens at 5 ms, enough slots that it never queues. Times in ms. TTFT = time to the first body byte of a streamed chat completion; ITL = mean gap between SSE events.',
  '',
  overheadTable(overhead),
  '',
].join('\n');
writeFileSync(join(out, 'report.md'), report);
process.stdout.write(`${report}\n`);
