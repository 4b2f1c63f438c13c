import type { DispatcherState, ModelCard } from '@infergate/shared';

/** One `data` entry of the gateway's `/v1/models`. */
export type ModelEntry = Readonly<Record<string, unknown>> & { readonly id: string };

/** What the gateway knows of a model that no engine describes in its own words. */
interface GatewayFacts {
  readonly ownedBy: string;
  readonly engines: number;
}

/** Lists in cards of the same model from several engines are joined without repeats (aliases, tags, capabilities). */
function mergeCards(cards: readonly ModelCard[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const card of cards) {
    for (const [field, value] of Object.entries(card)) {
      const held = merged[field];
      if (held === undefined) merged[field] = value;
      else if (Array.isArray(held) && Array.isArray(value)) merged[field] = [...new Set([...(held as unknown[]), ...(value as unknown[])])];
      // Otherwise the first engine's value stands: engines of one model describe it alike.
    }
  }
  return merged;
}

/**
 * The gateway's model list: every model a live dispatcher serves or
 * recently served, each with every field its engines report (merged across
 * the engines that serve it), the OpenAI fields filled in only where no
 * engine gave them, and the gateway's own count of the engines serving it.
 */
export function modelList(live: readonly DispatcherState[], known: ReadonlySet<string>): ModelEntry[] {
  const cards = new Map<string, ModelCard[]>();
  const facts = new Map<string, GatewayFacts>();
  for (const d of live) {
    for (const m of d.models) {
      const f = facts.get(m);
      facts.set(m, { ownedBy: f?.ownedBy ?? d.engineKind, engines: (f?.engines ?? 0) + 1 });
    }
    for (const card of d.modelCards ?? []) cards.set(card.id, [...(cards.get(card.id) ?? []), card]);
  }
  for (const m of known) if (!facts.has(m)) facts.set(m, { ownedBy: 'infergate', engines: 0 });
  return [...facts].map(([id, f]) => ({
    object: 'model',
    created: 0,
    owned_by: f.ownedBy,
    ...mergeCards(cards.get(id) ?? []),
    id,
    infergate: { engines: f.engines },
  }));
}
