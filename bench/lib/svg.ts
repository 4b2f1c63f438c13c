/*
 * Line charts as standalone SVG, written by hand so the report needs no
 * plotting dependency and renders on GitHub as it is. A figure is a grid
 * of panels; a series name keeps its colour across all figures of a run.
 */

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Points beyond it are left out, so a long tail does not flatten the rest. */
  readonly xMax?: number;
  /** Draw a marker at every point (for few points per series). */
  readonly markers?: boolean;
}

const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#9c755f', '#edc948'];
const WIDTH = 520;
const HEIGHT = 320;
const MARGIN = { left: 64, right: 16, top: 34, bottom: 78 };
const colours = new Map<string, string>();

function colourOf(name: string): string {
  if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]!);
  return colours.get(name)!;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick values spanning [0, max]: steps of 1, 2 or 5 times a power of ten. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v < max + step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function label(v: number): string {
  if (v >= 10_000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

function panel(p: Panel, x0: number, y0: number): string {
  const series = p.series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (p.xMax === undefined || x <= p.xMax)) }));
  const all = series.flatMap((s) => s.points);
  const xTicks = ticks(p.xMax ?? Math.max(0, ...all.map(([x]) => x)));
  const yTicks = ticks(Math.max(0, ...all.map(([, y]) => y)));
  const xEnd = xTicks.at(-1)!;
  const yEnd = yTicks.at(-1)!;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => x0 + MARGIN.left + (x / xEnd) * plotW;
  const sy = (y: number): number => y0 + MARGIN.top + plotH - (y / yEnd) * plotH;
  const f = (n: number): string => n.toFixed(1);
  const out: string[] = [`<text x="${f(x0 + WIDTH / 2)}" y="${f(y0 + 20)}" text-anchor="middle" font-weight="bold">${escape(p.title)}</text>`];
  for (const t of xTicks) {
    out.push(`<line x1="${f(sx(t))}" y1="${f(sy(0))}" x2="${f(sx(t))}" y2="${f(sy(yEnd))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f(sx(t))}" y="${f(sy(0) + 16)}" text-anchor="middle">${label(t)}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${f(sx(0))}" y1="${f(sy(t))}" x2="${f(sx(xEnd))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f(sx(0) - 6)}" y="${f(sy(t) + 4)}" text-anchor="end">${label(t)}</text>`);
  }
  out.push(`<polyline points="${f(sx(0))},${f(sy(yEnd))} ${f(sx(0))},${f(sy(0))} ${f(sx(xEnd))},${f(sy(0))}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${f(x0 + MARGIN.left + plotW / 2)}" y="${f(sy(0) + 34)}" text-anchor="middle">${escape(p.xLabel)}</text>`);
  const yMid = y0 + MARGIN.top + plotH / 2;
  out.push(`<text x="${f(x0 + 16)}" y="${f(yMid)}" text-anchor="middle" transform="rotate(-90 ${f(x0 + 16)} ${f(yMid)})">${escape(p.yLabel)}</text>`);
  for (const s of series) {
    const colour = colourOf(s.name);
    const coords = s.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`);
    if (coords.length > 1) out.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    if (p.markers || coords.length === 1) for (const [x, y] of s.points) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${colour}"/>`);
  }
  // The legend sits under the axis title, left to right.
  let lx = x0 + MARGIN.left;
  for (const s of series) {
    const ly = y0 + HEIGHT - 18;
    out.push(`<rect x="${f(lx)}" y="${f(ly - 9)}" width="14" height="4" fill="${colourOf(s.name)}"/>`);
    out.push(`<text x="${f(lx + 18)}" y="${f(ly - 3)}">${escape(s.name)}</text>`);
    lx += 26 + s.name.length * 6.5;
  }
  return out.join('\n');
}

/** One SVG document holding `panels` in a grid of `columns`. */
export function figure(panels: readonly Panel[], columns = 1): string {
  const rows = Math.ceil(panels.length / columns);
  const width = WIDTH * Math.min(columns, panels.length);
  const height = HEIGHT * rows;
  const body = panels.map((p, i) => panel(p, (i % columns) * WIDTH, Math.floor(i / columns) * HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
