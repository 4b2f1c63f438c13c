import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './lib/markdown.js';
import { evaluateTargets, targetsSection } from './lib/targets.js';
import { capacityScenario, capacitySection } from './scenarios/capacity.js';
import { clusterScenario, clusterSection } from './scenarios/cluster.js';
import { faultsScenario, faultsSection } from './scenarios/faults.js';
import { memoryChart, memoryScenario, memorySection } from './scenarios/memory.js';
import { overheadCharts, overheadScenario, overheadSection } from './scenarios/overhead.js';
import { schedulingScenario, schedulingSection } from './scenarios/scheduling.js';

/*
 * `npm run bench`: every scenario, each with its baseline measured in the
 * same run, written to bench/results/ as JSON, a markdown report and SVG
 * charts. `--quick` is a smoke run with short phases, written to
 * bench/results/quick/ so it never replaces the published figures.
 * A scenario that fails is reported as such; the others still run.
 */

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const out = join(here, 'results', ...(quick ? ['quick'] : []));

interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly error?: string;
}

const phases: Phase[] = [];

async function phase<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  process.stdout.write(`${name} …\n`);
  const start = performance.now();
  let result: T | undefined;
  let error: string | undefined;
  try {
    result = await run();
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    process.exitCode = 1;
  }
  const seconds = Math.round((performance.now() - start) / 1000);
  phases.push({ name, seconds, ...(error ? { error } : {}) });
  process.stdout.write(`${name}: ${seconds} s${error ? ', failed' : ''}\n`);
  return result;
}

function section<T>(name: string, result: T | undefined, render: (r: T) => string[]): string[] {
  if (result !== undefined) return render(result);
  return [`## ${name}`, '', `This scenario failed in this run: \`${phases.find((p) => p.name === name)?.error?.split('\n')[0]}\``, ''];
}

const startedAt = new Date();
const loadBefore = loadavg();

const overhead = await phase('overhead', () =>
  overheadScenario({
    durationMs: quick ? 2_000 : 4_000,
    minRequests: quick ? 0 : 100,
    closedLoop: [1, 16, 64],
    openLoop: quick ? [50] : [50, 150, 300],
  }),
);

const capacity = await phase('capacity', () => capacityScenario({ windowMs: quick ? 2_000 : 5_000, concurrency: 256 }));

const memory = await phase('memory', () => memoryScenario({ steps: quick ? [200, 500] : [500, 1_000, 2_000] }));

const faults = await phase('faults', () => faultsScenario({ cancelSamples: quick ? 5 : 20 }));

const scheduling = await phase('scheduling', () => schedulingScenario({ durationMs: quick ? 8_000 : 25_000 }));

const cluster = await phase('cluster', () => clusterScenario({ streams: 96, durationMs: quick ? 3_000 : 8_000, ttftLoads: [1, 16] }));

const totalSeconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const load = `load average ${loadBefore.map((l) => l.toFixed(1)).join(' / ')} (1 / 5 / 15 min) at the start, ${loadavg()[0]!.toFixed(1)} at the end`;
// Other work competing for the cores slows a multi-process relay more than a single engine or nginx.
// Only the load before the run tells of other work: the run's own processes raise the load at its end.
const busy = loadBefore[0]! > cpus().length;
const targets = evaluateTargets({ overhead, capacity, memory, faults });
const results = { startedAt: startedAt.toISOString(), machine, load, busy, quick, totalSeconds, phases, targets, overhead, capacity, memory, faults, scheduling, cluster };

mkdirSync(out, { recursive: true });
// Charts of an earlier run must not outlive it: a run without a scenario has none of its charts.
for (const f of readdirSync(out)) if (f.endsWith('.svg')) rmSync(join(out, f));
const charts = { ...(overhead ? overheadCharts(overhead) : {}), ...(memory ? { 'memory.svg': memoryChart(memory) } : {}) };
for (const [name, svg] of Object.entries(charts)) writeFileSync(join(out, name), svg);
writeFileSync(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

const report = [
  '# infergate benchmark report',
  '',
  `Run ${startedAt.toISOString()}${quick ? ' (`--quick`: short phases, figures are rough)' : ''} on ${machine}; ${load}. Everything on one machine: load generator, simulated engines, Redis, ingress, dispatchers, nginx. Reproduce with \`npm run bench\` (about ${Math.ceil(totalSeconds / 60)} min here, plus the build).`,
  '',
  ...(busy ? ['**Other work kept this machine busy (load average above its core count) during the run: treat every figure as noisy.**', ''] : []),
  ...targetsSection(targets),
  ...section('overhead', overhead, overheadSection),
  ...section('capacity', capacity, capacitySection),
  ...section('memory', memory, memorySection),
  ...section('faults', faults, faultsSection),
  ...section('scheduling', scheduling, schedulingSection),
  ...section('cluster', cluster, clusterSection),
  '## Run time',
  '',
  ...table(['scenario', 'seconds', 'outcome'], phases.map((p) => [p.name, p.seconds, p.error ? 'failed' : 'ok'])),
  '',
  `Total: ${totalSeconds} s.`,
  '',
].join('\n');
writeFileSync(join(out, 'report.md'), report);
process.stdout.write(`${report}\n`);
for (const p of phases.filter((p) => p.error)) process.stderr.write(`${p.name} failed:\n${p.error}\n`);
