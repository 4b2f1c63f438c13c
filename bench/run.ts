import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './lib/markdown.js';
import { evaluateCacheTargets, evaluateTargets, targetsSection } from './lib/targets.js';
import { affinityScenario, affinitySection, type AffinityResult } from './scenarios/affinity.js';
import { capacityScenario, capacitySection, type CapacityResult } from './scenarios/capacity.js';
import { clusterScenario, clusterSection } from './scenarios/cluster.js';
import { coldStartScenario, coldStartSection } from './scenarios/coldStart.js';
import { faultsScenario, faultsSection, type FaultsResult } from './scenarios/faults.js';
import { memoryChart, memoryScenario, memorySection, type MemoryResult } from './scenarios/memory.js';
import { overheadCharts, overheadScenario, overheadSection, type OverheadResult } from './scenarios/overhead.js';
import { schedulingScenario, schedulingSection, type SchedulingResult } from './scenarios/scheduling.js';
import { featureCostScenario, featureCostSection, type FeatureName } from './scenarios/featureCost.js';

/*
 * `npm run bench`: every scenario, each with its baseline measured in the
 * same run, written to bench/results/ as JSON, a markdown report and SVG
 * charts. `--quick` is a smoke run with short phases, written to
 * bench/results/quick/ so it never replaces the published figures.
 * `npm run bench -- NAME…` runs only the named scenarios and keeps the
 * other scenarios' results from the earlier runs that measured them; the
 * report says which run measured what.
 * A scenario that fails is reported as such; the others still run.
 */

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const out = join(here, 'results', ...(quick ? ['quick'] : []));

interface Scenario {
  run(): Promise<unknown>;
  render(result: unknown): string[];
}

function scenario<T>(run: () => Promise<T>, render: (r: T) => string[]): Scenario {
  return { run, render: (r) => render(r as T) };
}

/** A feature's cost: the same loads on a fleet with it off and one with it on. */
function featureCost(name: FeatureName): Scenario {
  return scenario(() => featureCostScenario(name, { durationMs: quick ? 2_000 : 4_000, closedLoop: [16], openLoop: quick ? [50] : [50, 150] }), featureCostSection(name));
}

const SCENARIOS = {
  overhead: scenario(
    () =>
      overheadScenario({
        durationMs: quick ? 2_000 : 4_000,
        minRequests: quick ? 0 : 100,
        closedLoop: [1, 16, 64],
        openLoop: quick ? [50] : [50, 150, 300],
      }),
    overheadSection,
  ),
  coldStart: scenario(() => coldStartScenario({ ratePerSecond: quick ? 100 : 300, windowMs: quick ? 3_000 : 10_000, trialsPerNode: quick ? 1 : 2 }), coldStartSection),
  capacity: scenario(() => capacityScenario({ windowMs: quick ? 2_000 : 5_000, concurrency: 256 }), capacitySection),
  memory: scenario(() => memoryScenario({ steps: quick ? [200, 500] : [500, 1_000, 2_000] }), memorySection),
  faults: scenario(() => faultsScenario({ cancelSamples: quick ? 5 : 20 }), faultsSection),
  scheduling: scenario(() => schedulingScenario({ durationMs: quick ? 8_000 : 75_000 }), schedulingSection),
  cluster: scenario(() => clusterScenario({ streams: 96, durationMs: quick ? 3_000 : 8_000, ttftLoads: [1, 16] }), clusterSection),
  affinity: scenario(() => affinityScenario({ ...(quick ? { workload: { conversations: 16, startWindowMs: 8_000 } } : {}), singleTurnRequestsPerBlock: quick ? 20 : 100 }), affinitySection),
  tracing: featureCost('tracing'),
  accounting: featureCost('accounting'),
  fairShare: featureCost('fairShare'),
  affinityCost: featureCost('affinityCost'),
} satisfies Record<string, Scenario>;

type ScenarioName = keyof typeof SCENARIOS;
const NAMES = Object.keys(SCENARIOS) as ScenarioName[];

const named = args.filter((a) => !a.startsWith('--'));
const unknown = named.filter((n) => !NAMES.includes(n as ScenarioName));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(', ')}; the scenarios are: ${NAMES.join(', ')}\n`);
  process.exit(2);
}
const selected = named.length > 0 ? NAMES.filter((n) => named.includes(n)) : NAMES;

/** The run that measured a scenario's figures. */
interface RunInfo {
  readonly startedAt: string;
  readonly machine: string;
  readonly load: string;
  readonly busy: boolean;
}

interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly error?: string;
}

interface Results extends RunInfo {
  readonly quick: boolean;
  readonly totalSeconds: number;
  readonly phases: Phase[];
  /** Which run measured each scenario, when not all of them come from this one. */
  readonly measuredIn?: Partial<Record<ScenarioName, RunInfo>>;
  readonly [scenario: string]: unknown;
}

/** The results of an earlier run into `out`, for the scenarios this run does not measure. */
function earlier(): Results | undefined {
  const file = join(out, 'results.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : undefined;
}

const phases: Phase[] = [];

async function phase(name: ScenarioName): Promise<unknown> {
  process.stdout.write(`${name} …\n`);
  const start = performance.now();
  let result: unknown;
  let error: string | undefined;
  try {
    result = await SCENARIOS[name].run();
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    process.exitCode = 1;
  }
  const seconds = Math.round((performance.now() - start) / 1000);
  phases.push({ name, seconds, ...(error ? { error } : {}) });
  process.stdout.write(`${name}: ${seconds} s${error ? ', failed' : ''}\n`);
  return result;
}

const startedAt = new Date();
const loadBefore = loadavg();
const measured: Partial<Record<ScenarioName, unknown>> = {};
for (const name of selected) measured[name] = await phase(name);

const totalSeconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const load = `load average ${loadBefore.map((l) => l.toFixed(1)).join(' / ')} (1 / 5 / 15 min) at the start, ${loadavg()[0]!.toFixed(1)} at the end`;
// Other work competing for the cores slows a multi-process relay more than a single engine or nginx.
// Only the load before the run tells of other work: the run's own processes raise the load at its end.
const busy = loadBefore[0]! > cpus().length;
const thisRun: RunInfo = { startedAt: startedAt.toISOString(), machine, load, busy };

const previous = selected.length < NAMES.length ? earlier() : undefined;
const kept = previous ? NAMES.filter((n) => !selected.includes(n) && previous[n] !== undefined) : [];
const measuredIn: Partial<Record<ScenarioName, RunInfo>> = {};
for (const n of kept) measuredIn[n] = previous!.measuredIn?.[n] ?? previous!;
for (const n of selected) measuredIn[n] = thisRun;
const scenarioResults = Object.fromEntries(NAMES.map((n) => [n, selected.includes(n) ? measured[n] : kept.includes(n) ? previous![n] : undefined]));
const allPhases = [...phases, ...(previous?.phases.filter((p) => kept.includes(p.name as ScenarioName)) ?? [])].sort((a, b) => NAMES.indexOf(a.name as ScenarioName) - NAMES.indexOf(b.name as ScenarioName));

const overhead = scenarioResults.overhead as OverheadResult | undefined;
const memory = scenarioResults.memory as MemoryResult | undefined;
const targets = evaluateTargets({ overhead, capacity: scenarioResults.capacity as CapacityResult | undefined, memory, faults: scenarioResults.faults as FaultsResult | undefined });
const cacheTargets = evaluateCacheTargets({ affinity: scenarioResults.affinity as AffinityResult | undefined, scheduling: scenarioResults.scheduling as SchedulingResult | undefined });
const results = { ...thisRun, quick, totalSeconds, phases: allPhases, ...(kept.length > 0 ? { measuredIn } : {}), targets, cacheTargets, ...scenarioResults };

mkdirSync(out, { recursive: true });
// Charts of an earlier run must not outlive its figures: they are drawn again from the results kept.
for (const f of readdirSync(out)) if (f.endsWith('.svg')) rmSync(join(out, f));
const charts = { ...(overhead ? overheadCharts(overhead) : {}), ...(memory ? { 'memory.svg': memoryChart(memory) } : {}) };
for (const [name, svg] of Object.entries(charts)) writeFileSync(join(out, name), svg);
writeFileSync(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

function section(name: ScenarioName): string[] {
  const result = scenarioResults[name];
  if (result !== undefined) return SCENARIOS[name].render(result);
  const failed = phases.find((p) => p.name === name)?.error;
  return failed ? [`## ${name}`, '', `This scenario failed in this run: \`${failed.split('\n')[0]}\``, ''] : [];
}

/** Which runs the sections come from, when they are not all from this one. */
function provenance(): string[] {
  if (kept.length === 0) return [];
  const runs = new Map<string, { info: RunInfo; names: ScenarioName[] }>();
  for (const n of NAMES.filter((x) => measuredIn[x])) {
    const info = measuredIn[n]!;
    const entry = runs.get(info.startedAt) ?? { info, names: [] };
    entry.names.push(n);
    runs.set(info.startedAt, entry);
  }
  return [
    `This run measured ${selected.join(', ')} (\`npm run bench -- ${selected.join(' ')}\`); the other sections are kept from the earlier runs that measured them:`,
    '',
    ...table(
      ['run', 'scenarios', 'load', 'busy'],
      [...runs.values()].map(({ info, names }) => [info.startedAt, names.join(', '), info.load, info.busy ? '**yes**' : 'no']),
    ),
    '',
  ];
}

const benchSeconds = allPhases.reduce((s, p) => s + p.seconds, 0);
const report = [
  '# infergate benchmark report',
  '',
  `Run ${startedAt.toISOString()}${quick ? ' (`--quick`: short phases, figures are rough)' : ''} on ${machine}; ${load}. Everything on one machine: load generator, simulated engines, Redis, ingress, dispatchers, nginx. Reproduce with \`npm run bench\` (about ${Math.ceil(benchSeconds / 60)} min here, plus the build).`,
  '',
  ...provenance(),
  ...(busy ? ['**Other work kept this machine busy (load average above its core count) during the run: treat every figure as noisy.**', ''] : []),
  ...targetsSection(targets),
  ...targetsSection(cacheTargets, 'Targets (issue 17, cache-aware scheduling)'),
  ...NAMES.flatMap(section),
  '## Run time',
  '',
  ...table(['scenario', 'seconds', 'outcome'], allPhases.map((p) => [p.name, p.seconds, p.error ? 'failed' : 'ok'])),
  '',
  `Total: ${benchSeconds} s${kept.length > 0 ? ` (this run: ${totalSeconds} s)` : ''}.`,
  '',
].join('\n');
writeFileSync(join(out, 'report.md'), report);
process.stdout.write(`${report}\n`);
for (const p of phases.filter((p) => p.error)) process.stderr.write(`${p.name} failed:\n${p.error}\n`);
