import type { ChatClient, ChatMessage, ChatTiming } from './chat.js';
import { seededRandom } from './random.js';
import { sleep } from './wait.js';

/*
 * Multi-turn chat as users produce it: each conversation opens with a
 * system prompt of its own, every turn resends the whole conversation so
 * far (the assistant's turns as the engine actually answered them), and the
 * user thinks a while before the next turn. Everything that is not an
 * answer — start times, think times, the users' words — comes from one
 * seed, so every arm replays the same arrivals.
 */

export interface WorkloadOptions {
  readonly seed: number;
  readonly conversations: number;
  readonly turns: number;
  /** Conversations start at uniformly random times in [0, startWindowMs). */
  readonly startWindowMs: number;
  /** Think time before each later turn, uniform in [min, max]. */
  readonly thinkMs: readonly [number, number];
  /** Length of each system prompt, and range of each user message, in characters. */
  readonly systemChars: number;
  readonly userChars: readonly [number, number];
  readonly maxTokens: number;
}

export interface ConversationPlan {
  readonly index: number;
  readonly startMs: number;
  readonly system: string;
  readonly users: readonly string[];
  /** Think time before turn t; entry 0 is unused (the first turn starts at `startMs`). */
  readonly thinkMs: readonly number[];
}

export interface Workload {
  readonly options: WorkloadOptions;
  readonly conversations: readonly ConversationPlan[];
}

export interface TurnRecord extends ChatTiming {
  readonly conversation: number;
  /** 0-based. */
  readonly turn: number;
}

/** Picks the client that carries turn `turn` of conversation `conversation`. */
export type Route = (conversation: number, turn: number) => ChatClient;

export function planWorkload(options: WorkloadOptions): Workload {
  const random = seededRandom(options.seed);
  const between = (min: number, max: number): number => min + random() * (max - min);
  const word = (): string => Array.from({ length: 3 + Math.floor(random() * 6) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join('');
  const text = (chars: number): string => {
    let out = word();
    while (out.length < chars) out += ` ${word()}`;
    return out;
  };
  const conversations = Array.from({ length: options.conversations }, (_, index) => ({
    index,
    startMs: Math.round(random() * options.startWindowMs),
    // Unique from its first character: a shared opening would make every conversation look like one.
    system: `${text(options.systemChars)}.`,
    users: Array.from({ length: options.turns }, () => `${text(Math.round(between(...options.userChars)))}?`),
    thinkMs: Array.from({ length: options.turns }, (_, t) => (t === 0 ? 0 : Math.round(between(...options.thinkMs)))),
  }));
  return { options, conversations };
}

async function converse(plan: ConversationPlan, maxTokens: number, route: Route, out: TurnRecord[]): Promise<void> {
  const messages: ChatMessage[] = [{ role: 'system', content: plan.system }];
  for (let turn = 0; turn < plan.users.length; turn++) {
    if (turn > 0) await sleep(plan.thinkMs[turn]!);
    messages.push({ role: 'user', content: plan.users[turn]! });
    const timing = await route(plan.index, turn).send(messages, maxTokens);
    out.push({ ...timing, conversation: plan.index, turn });
    // A failed turn keeps whatever text arrived, so the arm's load stays that of the plan.
    messages.push({ role: 'assistant', content: timing.text });
  }
}

/** Plays every conversation of `workload` to its end; records come in order of completion. */
export async function runConversations(workload: Workload, route: Route): Promise<TurnRecord[]> {
  const out: TurnRecord[] = [];
  await Promise.all(
    workload.conversations.map(async (plan) => {
      await sleep(plan.startMs);
      await converse(plan, workload.options.maxTokens, route, out);
    }),
  );
  return out;
}
