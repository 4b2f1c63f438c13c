/** A deterministic unit vector for `text`: equal inputs embed equally, different ones almost surely not. */
export function embed(text: string, dims: number): number[] {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619);
  const v: number[] = [];
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    // xorshift32: cheap, stable across platforms.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const x = (seed >>> 0) / 0x1_0000_0000 - 0.5;
    v.push(x);
    norm += x * x;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return v.map((x) => x * scale);
}

/** The texts of an OpenAI-style `input`: a string or a list of strings. */
export function inputTexts(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) return input;
  return undefined;
}
