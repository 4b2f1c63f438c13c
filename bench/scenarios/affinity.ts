import type { ServiceProcess } from '@infergate/stack';
import { countAffinity, seriesTable, type Series } from '../lib/affinitySeries.js';
import { ChatClient } from '../lib/chat.js';
import { planWorkload, runConversations, type Route, type TurnRecord, type Workload, type WorkloadOptions } from '../lib/conversations.js';
import { startFleet, startSims, stopServices, type EngineSpec, type Fleet } from '../lib/fleet.js';
import { table } from '../lib/markdown.js';
import { NGINX_MISSING, nginxAvailable, startNginx, type Nginx } from '../lib/nginx.js';
import { engineFigures, simResetStats } from '../lib/sim.js';
import { latencyFigures, round, summarize, type LatencyFigures } from '../lib/stats.js';

/*
 * Cache-aware scheduling (issue 17): multi-turn conversations with think
 * time over a pool of simulated llama.cpp engines that keep prompts in a
 * prefix cache and pay prefill only for the tokens they do not hold. The
 * same conversations, started at the same times with the same think times,
 * go through infergate with affinity on (one ingress, and two ingresses
 * taking turns), with it off, through nginx `least_conn`, and straight to
 * the engine an oracle pins each conversation to. Each arm has engines of
 * its own, cold at its start. Reuse is the engines' own account
 * (`timings.cache_n` / `prompt_n` of every answer).
 *
 * A second part asks what affinity costs when there is nothing to reuse:
 * single-turn requests with unique prompts through two fleets, affinity on
 * and off, alive at once and taking turns block by block.
 */

/** A CPU-class engine: prefill costs 0.5 ms per prompt token it does not hold in cache, a decode step 15 ms. */
export const AFFINITY_ENGINE: EngineSpec = { slots: 2, ttftMs: 15, itlMs: 15, tokens: 32, prefillMsPerToken: 0.5 };
const ENGINES = 4;

/**
 * 40 conversations started over 24 s keep the pool's slots about 55 % busy
 * when every turn finds its prefix cached (a turn then holds a slot ~0.5 s:
 * ~15 ms prefill, 32 tokens at 15 ms) and about 70 % when none does; 48 in
 * 16 s overloaded it even for the oracle, where queueing swamps all else.
 */
export const CONVERSATIONS: Omit<WorkloadOptions, 'seed'> = {
  conversations: 40,
  turns: 6,
  startWindowMs: 24_000,
  thinkMs: [0, 600],
  // ~120 tokens of system prompt and 20-40 tokens per user turn (the simulator counts 4 characters a token).
  systemChars: 480,
  userChars: [80, 160],
  maxTokens: 32,
};
const SEED = 17;
/** Warm-up traffic of other content, so every arm meets JIT-compiled code and open connections, not cold caches of our conversations. */
const WARM_UP = { seed: 1_017, conversations: 8, turns: 2, startWindowMs: 500 };

const WIDER_LOOKUP_BUDGET_MS = 20;

export const AFFINITY_ARMS = {
  oracle: `oracle (conversation i → engine i mod ${ENGINES}, direct)`,
  nginx: 'nginx least_conn',
  off: 'infergate, affinity off',
  on: 'infergate, affinity on',
  twoIngresses: 'infergate, affinity on, 2 ingresses',
  /** Not a target arm: how much of the reuse the default lookup budget loses on this busy machine. */
  widerBudget: `infergate, affinity on, lookup budget ${WIDER_LOOKUP_BUDGET_MS} ms (diagnostic)`,
} as const;

const SINGLE_TURN = { seed: 2_017, streams: 4, blocks: 8, maxTokens: 4 };

export interface ConversationRow extends LatencyFigures {
  readonly arm: string;
  /** Σ cache_n / Σ (cache_n + prompt_n) over the arm's answers. */
  readonly reuse: number;
  /** The same, per turn (index 0 = first turn). */
  readonly reuseByTurn: number[];
  readonly ttftP50ByTurn: number[];
  /** Sum of the engines' own deferral counters: requests that waited inside an engine. */
  readonly deferrals: number;
  readonly served: number[];
  /** infergate's own affinity series (lane hits, misses, steals, waits) over the measured run, summed over its processes. */
  readonly affinitySeries?: Series;
}

export interface SingleTurnArm {
  readonly requests: number;
  readonly failed: number;
  readonly ttftMs: { p50: number; p99: number };
}

export interface SingleTurnResult {
  readonly streams: number;
  readonly blocks: number;
  readonly requestsPerBlock: number;
  readonly on: SingleTurnArm;
  readonly off: SingleTurnArm;
  /** TTFT p50 with affinity on minus off. */
  readonly addedP50Ms: number;
  /**
   * The median over prompts of the prompt's TTFT with affinity on minus its
   * TTFT with it off: both arms send every prompt, so the spread of prefill
   * times over prompt lengths (±5 ms here) drops out of the comparison.
   */
  readonly pairedAddedP50Ms: number;
  /** The affinity fleet's series over the whole A/B run, its warm-up block included. */
  readonly affinitySeries: Series;
}

export interface AffinityResult {
  readonly engine: EngineSpec;
  readonly engines: number;
  readonly workload: WorkloadOptions;
  readonly rows: ConversationRow[];
  readonly singleTurn: SingleTurnResult;
  readonly notes: string[];
}

interface ArmUnderTest {
  readonly route: Route;
  readonly engineUrls: readonly string[];
  /** The arm's infergate fleet, whose affinity series are counted. */
  readonly fleet?: Fleet;
}

function reuse(records: readonly TurnRecord[]): number {
  const cached = records.reduce((n, r) => n + r.cachedTokens, 0);
  const evaluated = records.reduce((n, r) => n + r.evaluatedTokens, 0);
  return cached + evaluated === 0 ? 0 : round(cached / (cached + evaluated), 3);
}

function byTurn<T>(records: readonly TurnRecord[], turns: number, of: (rs: TurnRecord[]) => T): T[] {
  return Array.from({ length: turns }, (_, t) => of(records.filter((r) => r.turn === t)));
}

async function measureArm(arm: string, under: ArmUnderTest, workload: Workload): Promise<ConversationRow> {
  await runConversations(planWorkload({ ...workload.options, ...WARM_UP }), under.route);
  await Promise.all(under.engineUrls.map(simResetStats));
  const { result: records, series } = await countAffinity(under.fleet, () => runConversations(workload, under.route));
  const engines = await engineFigures(under.engineUrls);
  const ok = records.filter((r) => r.ok);
  return {
    arm,
    ...latencyFigures(records),
    reuse: reuse(ok),
    reuseByTurn: byTurn(ok, workload.options.turns, reuse),
    ttftP50ByTurn: byTurn(ok, workload.options.turns, (rs) => round(summarize(rs.map((r) => r.ttft)).p50, 1)),
    ...engines,
    ...(series ? { affinitySeries: series } : {}),
  };
}

/** Clients for `urls`, closed when `use` ends. */
async function withClients<T>(urls: readonly string[], use: (clients: ChatClient[]) => Promise<T>): Promise<T> {
  const clients = urls.map((u) => new ChatClient(u));
  try {
    return await use(clients);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

const POOL: readonly EngineSpec[] = Array.from({ length: ENGINES }, () => AFFINITY_ENGINE);

function affinityEnv(on: boolean): Record<string, string> {
  return { AFFINITY_ENABLED: String(on) };
}

async function infergateArm(arm: string, workload: Workload, options: { env: Record<string, string>; ingresses: number }): Promise<ConversationRow> {
  const fleet: Fleet = await startFleet({ engines: POOL, ingressCount: options.ingresses, env: options.env });
  try {
    return await withClients(fleet.ingressUrls, (clients) =>
      // Turn t of conversation c enters through ingress (c + t) mod n: consecutive turns of a conversation never share one.
      measureArm(
        arm,
        {
          route: (c, t) => clients[(c + t) % clients.length]!,
          engineUrls: fleet.engineUrls,
          fleet,
        },
        workload,
      ),
    );
  } finally {
    await fleet.stop();
  }
}

/** `route` picks among clients of the arm's own engines, or of a proxy over them. */
async function engineArm(arm: string, workload: Workload, entry: (engineUrls: string[]) => Promise<{ urls: string[]; route: (clients: ChatClient[]) => Route; stop: () => Promise<void> }>): Promise<ConversationRow> {
  const sims: ServiceProcess[] = [];
  let stopEntry: (() => Promise<void>) | undefined;
  try {
    const engineUrls = await startSims(POOL, sims);
    const { urls, route, stop } = await entry(engineUrls);
    stopEntry = stop;
    return await withClients(urls, (clients) => measureArm(arm, { route: route(clients), engineUrls }, workload));
  } finally {
    await stopEntry?.();
    await stopServices(sims);
  }
}

function nginxArm(workload: Workload): Promise<ConversationRow> {
  return engineArm(AFFINITY_ARMS.nginx, workload, async (engineUrls) => {
    const nginx: Nginx = await startNginx(engineUrls.map((url) => ({ url })), { leastConn: true });
    return { urls: [nginx.url], route: (clients) => () => clients[0]!, stop: () => nginx.stop() };
  });
}

function oracleArm(workload: Workload): Promise<ConversationRow> {
  return engineArm(AFFINITY_ARMS.oracle, workload, async (engineUrls) => ({
    urls: engineUrls,
    route: (clients) => (c) => clients[c % clients.length]!,
    stop: async () => {},
  }));
}

function singleTurnFigures(records: readonly TurnRecord[]): SingleTurnArm {
  const ok = records.filter((r) => r.ok);
  const ttft = summarize(ok.map((r) => r.ttft));
  return { requests: records.length, failed: records.length - ok.length, ttftMs: { p50: round(ttft.p50, 3), p99: round(ttft.p99, 2) } };
}

/** Median of `on` − `off` TTFT over the prompts both answered. */
function pairedAdded(on: readonly TurnRecord[], off: readonly TurnRecord[]): number {
  const offByPrompt = new Map(off.filter((r) => r.ok).map((r) => [r.conversation, r.ttft]));
  return summarize(on.filter((r) => r.ok && offByPrompt.has(r.conversation)).map((r) => r.ttft - offByPrompt.get(r.conversation)!)).p50;
}

/** `streams` closed loops sending one prompt each of `prompts` through `client`, until none is left. */
async function sendAll(client: ChatClient, prompts: Workload['conversations'], streams: number): Promise<TurnRecord[]> {
  const out: TurnRecord[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (next < prompts.length) {
        const p = prompts[next++]!;
        const timing = await client.send([{ role: 'system', content: p.system }, { role: 'user', content: p.users[0]! }], SINGLE_TURN.maxTokens);
        out.push({ ...timing, conversation: p.index, turn: 0 });
      }
    }),
  );
  return out;
}

async function singleTurnScenario(requestsPerBlock: number): Promise<SingleTurnResult> {
  const { seed, streams, blocks } = SINGLE_TURN;
  const prompts = planWorkload({ ...CONVERSATIONS, seed, conversations: requestsPerBlock * (blocks + 1), turns: 1 }).conversations;
  const fleets: Fleet[] = [];
  try {
    for (const on of [true, false]) fleets.push(await startFleet({ engines: POOL, env: affinityEnv(on) }));
    return await withClients(
      fleets.map((f) => f.ingressUrls[0]!),
      async ([on, off]) => {
        const records = { on: [] as TurnRecord[], off: [] as TurnRecord[] };
        const { series } = await countAffinity(fleets[0], async () => {
          // Block 0 warms both paths and is not counted.
          for (let b = 0; b <= blocks; b++) {
            const block = prompts.slice(b * requestsPerBlock, (b + 1) * requestsPerBlock);
            // Alternating which arm goes first cancels a drift of the machine over the run.
            for (const arm of b % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
              const done = await sendAll(arm === 'on' ? on! : off!, block, streams);
              if (b > 0) records[arm].push(...done);
            }
          }
        });
        const figures = { on: singleTurnFigures(records.on), off: singleTurnFigures(records.off) };
        return {
          streams,
          blocks,
          requestsPerBlock,
          ...figures,
          addedP50Ms: round(figures.on.ttftMs.p50 - figures.off.ttftMs.p50, 3),
          pairedAddedP50Ms: round(pairedAdded(records.on, records.off), 3),
          affinitySeries: series!,
        };
      },
    );
  } finally {
    await Promise.all(fleets.map((f) => f.stop()));
  }
}

/** `workload` overrides parts of CONVERSATIONS, for a smoke run. */
export async function affinityScenario(options: { workload?: Partial<WorkloadOptions>; singleTurnRequestsPerBlock: number }): Promise<AffinityResult> {
  const workload = planWorkload({ ...CONVERSATIONS, ...options.workload, seed: SEED });
  const notes: string[] = [];
  const rows: ConversationRow[] = [];
  rows.push(await oracleArm(workload));
  if (nginxAvailable()) rows.push(await nginxArm(workload));
  else notes.push(NGINX_MISSING);
  rows.push(await infergateArm(AFFINITY_ARMS.off, workload, { env: affinityEnv(false), ingresses: 1 }));
  rows.push(await infergateArm(AFFINITY_ARMS.on, workload, { env: affinityEnv(true), ingresses: 1 }));
  rows.push(await infergateArm(AFFINITY_ARMS.twoIngresses, workload, { env: affinityEnv(true), ingresses: 2 }));
  rows.push(await infergateArm(AFFINITY_ARMS.widerBudget, workload, { env: { ...affinityEnv(true), AFFINITY_LOOKUP_TIMEOUT_MS: String(WIDER_LOOKUP_BUDGET_MS) }, ingresses: 1 }));
  const singleTurn = await singleTurnScenario(options.singleTurnRequestsPerBlock);
  return { engine: AFFINITY_ENGINE, engines: ENGINES, workload: workload.options, rows, singleTurn, notes };
}

/** The index lookups the affinity fleet made, from its own series. */
function lookupLine(series: Series): string {
  const count = Object.entries(series).find(([k]) => k.startsWith('infergate_affinity_lookup_seconds_count'))?.[1];
  const sum = Object.entries(series).find(([k]) => k.startsWith('infergate_affinity_lookup_seconds_sum'))?.[1];
  const timeouts = Object.entries(series)
    .filter(([k]) => k.startsWith('infergate_affinity_requests_total') && k.includes('reason="timeout"'))
    .reduce((n, [, v]) => n + v, 0);
  if (!count || sum === undefined) return '';
  return `Its ingress made ${count} index lookups (warm-up block included), ${round((sum / count) * 1000, 2)} ms each on average; ${timeouts} ran past the lookup budget.`;
}

export function affinitySection(r: AffinityResult): string[] {
  const w = r.workload;
  const e = r.engine;
  const s = r.singleTurn;
  return [
    '## Cache-aware scheduling: multi-turn conversations (issue 17)',
    '',
    `${r.engines} simulated llama.cpp engines, ${e.slots} slots each, prompt cache on, prefill ${e.prefillMsPerToken} ms per prompt token not in cache, then ${e.ttftMs} ms to the first token and ${e.itlMs} ms per token. ${w.conversations} conversations × ${w.turns} turns, started at random in the first ${w.startWindowMs / 1000} s; each has a unique system prompt of ~${w.systemChars / 4} tokens, user turns of ${w.userChars[0] / 4}–${w.userChars[1] / 4} tokens, answers of ${w.maxTokens} tokens, and every turn resends the whole conversation with the answers the engine gave. Users think ${w.thinkMs[0]}–${w.thinkMs[1]} ms between turns. Start times, think times and texts come from one seed: every arm replays the same arrivals, each on cold engines of its own, after a warm-up of other conversations. Reuse = Σ cache_n / Σ (cache_n + prompt_n) from the engines' answers. TTFT = sending to the first content token; e2e = to the end of the answer. Two ingresses: turn t of conversation c enters through ingress (c + t) mod 2.`,
    '',
    ...table(
      ['arm', 'requests', 'failed', '**reuse**', 'reuse by turn', '**TTFT p50**', 'TTFT p99', 'TTFT p50 by turn', 'e2e p50', 'e2e p99', 'engine-side deferrals', 'served per engine'],
      r.rows.map((row) => [
        row.arm,
        row.requests,
        row.failed,
        `**${row.reuse}**`,
        row.reuseByTurn.join(' / '),
        `**${row.ttftMs.p50}**`,
        row.ttftMs.p99,
        row.ttftP50ByTurn.join(' / '),
        row.e2eMs.p50,
        row.e2eMs.p99,
        row.deferrals,
        row.served.join(' / '),
      ]),
    ),
    '',
    ...seriesTable(r.rows),
    `**Single-turn requests, no shared prefixes:** first turns of further conversations (a unique system prompt and one user message each, ${SINGLE_TURN.maxTokens}-token answers), ${s.streams} streams, through two fleets alive at once, affinity on and off. They take turns in ${s.blocks} blocks of ${s.requestsPerBlock} requests, the same prompts to both, which arm goes first alternating, after one block each to warm up.`,
    '',
    ...table(
      ['affinity', 'requests', 'failed', 'TTFT p50', 'TTFT p99'],
      [
        ['on', s.on.requests, s.on.failed, s.on.ttftMs.p50, s.on.ttftMs.p99],
        ['off', s.off.requests, s.off.failed, s.off.ttftMs.p50, s.off.ttftMs.p99],
      ],
    ),
    '',
    `Added TTFT with affinity on: **${s.pairedAddedP50Ms} ms**, the median over prompts of each prompt's TTFT on minus off (${s.addedP50Ms} ms between the two arms' p50s). ${lookupLine(s.affinitySeries)}`,
    ...r.notes.flatMap((n) => ['', n]),
    '',
  ];
}
