/**
 * The structure of a JSON value as a comparable string: object keys in
 * order with the shapes of their values, arrays by their first element,
 * scalars by type. Two bodies with equal shapes differ only in values.
 */
export function shape(value: unknown): string {
  return JSON.stringify(shapeOf(value));
}

function shapeOf(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? [shapeOf(v[0])] : [];
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => [k, shapeOf(x)]);
  return typeof v;
}
