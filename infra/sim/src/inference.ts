/*
 * One inference request from arrival to the last byte: fault knobs, waiting
 * for a slot, time to first token, one timer per token, and the end of the
 * response. Personalities supply only the parsing and the wire format, so
 * scheduling behaves identically for every endpoint of both engines.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Content } from './content.js';
import type { SimEnv } from './env.js';
import { takeFaultPlan, type FaultPlan } from './faults.js';
import { onClientGone, readBody, send, type Head, type Reply } from './http.js';
import type { Slot, SlotPicker, Ticket } from './slots.js';
import type { PromptSequence } from './tokenizer.js';

export type FinishReason = 'stop' | 'length';

/** `tokens` content tokens; a 'stop' finish adds the EOS token after them. */
export interface OutputPlan {
  readonly tokens: number;
  readonly finish: FinishReason;
}

/**
 * The model would stop (EOS) after `natural` tokens; the request's cap or the
 * context room can cut it short, which finishes with 'length' instead.
 */
export function planOutput(natural: number, cap: number | undefined, room: number): OutputPlan {
  const limit = Math.min(cap ?? Number.POSITIVE_INFINITY, room);
  return limit <= natural ? { tokens: Math.max(0, limit), finish: 'length' } : { tokens: natural, finish: 'stop' };
}

/** Identity of one response as both engines stamp it on every chunk. */
export interface ResponseMeta {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly content: Content;
}

export interface Outcome {
  readonly promptTokens: number;
  /** Prompt tokens found in the prompt cache, whose prefill was skipped. */
  readonly cachedTokens: number;
  /** Generated tokens, EOS included, as engines report completion_tokens. */
  readonly completionTokens: number;
  readonly finish: FinishReason;
  /** The generated text (non-stream responses only). */
  readonly text: string;
  readonly slotId: number;
  readonly promptMs: number;
  readonly predictedMs: number;
}

export interface StreamOutput {
  readonly stream: true;
  readonly head: Head;
  /** Events that go out together with the first token (a role chunk). */
  opening(): string;
  /** The event(s) for content token `index`, or for the EOS token. */
  step(index: number, eos: boolean, last: boolean): string;
  /** Events after the last token: finish, usage, terminator. */
  closing(outcome: Outcome): string;
}

export interface WholeOutput {
  readonly stream: false;
  complete(outcome: Outcome): Reply;
}

export interface InferenceJob {
  readonly promptTokens: number;
  /** A generation's prompt, for the prompt cache; embeddings go without. */
  readonly prompt?: PromptSequence;
  readonly plan: OutputPlan;
  readonly content: Content;
  /** The request's own cap for /slots, -1 when none. */
  readonly maxTokens: number;
  readonly temperature: number;
  /** vLLM starts a stream's response as soon as it accepts the request; llama.cpp with the first result. */
  readonly headersBeforeSlot: boolean;
  /** llama.cpp rejects an oversized prompt only when a slot picks the task up. */
  readonly rejectOnStart?: Reply;
  readonly output: StreamOutput | WholeOutput;
}

export interface InferenceRoute {
  /** The engine's error response for an injected `failStatus`. */
  failure(status: number): Reply;
  /** Parses the body; a Reply is an immediate answer, normally an error. */
  build(body: Buffer): InferenceJob | Reply;
}

function isJob(v: InferenceJob | Reply): v is InferenceJob {
  return 'plan' in v;
}

export async function serveInference(env: SimEnv, req: IncomingMessage, res: ServerResponse, route: InferenceRoute): Promise<void> {
  env.stats.add('requests');
  const fault = takeFaultPlan(env.config);
  if (fault) env.stats.add('faults');
  let handedOver = false;
  onClientGone(res, () => {
    if (!handedOver) env.stats.add('cancellations');
  });
  if (fault?.failStatus != null) return answer(env, res, route.failure(fault.failStatus));
  if (fault?.hang) return;
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch {
    return;
  }
  if (fault && fault.slowStartMs > 0) await delay(fault.slowStartMs);
  if (res.destroyed) return;
  const built = route.build(body);
  if (!isJob(built)) return answer(env, res, built);
  handedOver = true;
  new Generation(env, res, built, fault);
}

function answer(env: SimEnv, res: ServerResponse, reply: Reply): void {
  if (reply.status >= 400) env.stats.add('errors');
  send(res, reply);
}

class Generation {
  private readonly ticket: Ticket;
  private readonly steps: number;
  private readonly untrack: () => void;
  private readonly text: string[] = [];
  private slot: Slot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  private next = 0;
  private written = 0;
  private slotAt = 0;
  private firstAt = 0;
  private cachedTokens = 0;
  /** The prompt the slot began on in the prompt cache, which must learn what the slot ends up holding. */
  private cachedPrompt: PromptSequence | undefined;

  constructor(
    private readonly env: SimEnv,
    private readonly res: ServerResponse,
    private readonly job: InferenceJob,
    private readonly fault: FaultPlan | undefined,
  ) {
    this.steps = job.plan.tokens + (job.plan.finish === 'stop' ? 1 : 0);
    this.untrack = env.track(() => this.settle());
    onClientGone(res, () => {
      if (this.settled) return;
      this.settle();
      env.stats.add('cancellations');
    });
    const out = job.output;
    if (out.stream && job.headersBeforeSlot) {
      res.writeHead(out.head.status, out.head.headers as string[]);
      res.flushHeaders();
    }
    const prompt = job.prompt;
    const pick: SlotPicker | undefined = prompt && ((free) => env.cache.pick(free, prompt.tokens));
    this.ticket = env.pool.acquire(
      {
        id: env.nextTaskId(),
        promptTokens: job.promptTokens,
        maxTokens: job.maxTokens,
        stream: out.stream,
        temperature: job.temperature,
        decoded: 0,
      },
      (slot) => this.start(slot),
      pick,
    );
    if (this.ticket.slot) this.start(this.ticket.slot);
    else env.stats.add('deferrals');
    env.stats.observe();
  }

  private start(slot: Slot): void {
    this.slot = slot;
    this.env.stats.observe();
    if (this.job.rejectOnStart) {
      this.settle();
      answer(this.env, this.res, this.job.rejectOnStart);
      return;
    }
    this.slotAt = performance.now();
    const { config, cache } = this.env;
    const prompt = this.job.prompt;
    if (prompt) {
      this.cachedTokens = cache.begin(slot, prompt.tokens);
      this.cachedPrompt = prompt;
    }
    slot.task!.cachedTokens = this.cachedTokens;
    this.timer = setTimeout(this.tick, config.ttftMs + (this.job.promptTokens - this.cachedTokens) * config.prefillMsPerToken);
  }

  private readonly tick = (): void => {
    // The socket can die between its destruction and the 'close' event that settles us.
    if (this.res.destroyed) return;
    const { env, job, res } = this;
    const i = this.next;
    if (i === 0) {
      this.firstAt = performance.now();
      env.totals.prompt(job.promptTokens, this.cachedTokens, this.firstAt - this.slotAt);
      if (this.dies()) return;
      if (this.steps === 0) return this.finish();
    }
    this.next++;
    const eos = i >= job.plan.tokens;
    this.slot!.task!.decoded++;
    env.totals.decode(env.pool.busy);
    env.stats.add('tokens');
    const out = job.output;
    if (out.stream) res.write((i === 0 ? this.open(out) : '') + out.step(i, eos, this.next === this.steps));
    else if (!eos) this.text.push(job.content.text(i));
    if (!eos) {
      this.written++;
      if (this.dies()) return;
    }
    if (this.next === this.steps) this.finish();
    else this.timer = setTimeout(this.tick, env.config.itlMs);
  };

  private open(out: StreamOutput): string {
    if (!this.res.headersSent) this.res.writeHead(out.head.status, out.head.headers as string[]);
    return out.opening();
  }

  private finish(): void {
    const { env, job, res } = this;
    const predictedMs = performance.now() - this.firstAt;
    const outcome: Outcome = {
      promptTokens: job.promptTokens,
      cachedTokens: this.cachedTokens,
      completionTokens: this.next,
      finish: job.plan.finish,
      text: this.text.join(''),
      slotId: this.slot!.id,
      promptMs: this.firstAt - this.slotAt,
      predictedMs,
    };
    this.settle();
    env.totals.finished(job.promptTokens, this.next, predictedMs);
    env.stats.add('completed');
    const out = job.output;
    if (out.stream) res.end((this.next === 0 ? this.open(out) : '') + out.closing(outcome));
    else send(res, out.complete(outcome));
  }

  /** Applies `dieAfterTokens` once that many content tokens have gone out. */
  private dies(): boolean {
    const fault = this.fault;
    if (fault?.dieAfterTokens == null || this.written < fault.dieAfterTokens) return false;
    this.settle();
    // Node corks a response's writes until the next tick, so dying synchronously would swallow the last tokens
    // (Node 24 drops them even from a socket ended with destroySoon); the socket is ended after a flush rather
    // than reset, so the client surely has the N tokens before the cut.
    if (fault.dieMode === 'exit') setImmediate(() => this.env.die());
    else setImmediate(() => this.res.socket?.destroySoon());
    return true;
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.cachedPrompt) this.env.cache.end(this.slot!, this.cachedPrompt.followedBy(this.job.content.upTo(this.written)));
    this.ticket.cancel();
    this.untrack();
  }
}
