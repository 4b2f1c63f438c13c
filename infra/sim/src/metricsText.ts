/*
 * Prometheus text in the two dialects the engines speak: llama.cpp writes
 * its own lines with C++ stream formatting (`%g`, six significant digits);
 * vLLM goes through Python's prometheus_client, which sorts labels, prints
 * Python float reprs and turns a counter into `_total` plus a `_created` gauge.
 */

/** C++ `std::ostream << double` with default precision: `%g` with 6 significant digits. */
export function formatG(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return x === 0 ? '0' : String(x);
  const rounded = Number(x.toPrecision(6));
  const exp = Math.floor(Math.log10(Math.abs(rounded)));
  if (exp < -4 || exp >= 6) {
    const [mantissa = '', power = '0'] = rounded.toExponential(5).split('e');
    const trimmed = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
    const n = Number(power);
    return `${trimmed}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(rounded);
}

/** One llama.cpp metric family. */
export function llamaFamily(name: string, help: string, type: 'counter' | 'gauge', value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${formatG(value)}\n`;
}

/** prometheus_client's floatToGoString (Python float repr, Go-style exponents for large values). */
export function pyFloat(x: number): string {
  const repr = Number.isInteger(x) && Math.abs(x) < 1e16 ? `${x}.0` : String(x);
  const dot = repr.indexOf('.');
  if (x > 0 && dot > 6) {
    const digits = repr.slice(0, dot) + repr.slice(dot + 1);
    const mantissa = `${digits[0]}.${digits.slice(1)}`.replace(/[.0]+$/, '');
    return `${mantissa}e+0${dot - 1}`;
  }
  return repr;
}

export type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"')}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

export function promGauge(name: string, help: string, labels: Labels, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${labelText(labels)} ${pyFloat(value)}\n`;
}

export function promCounter(name: string, help: string, labels: Labels, value: number, createdSeconds: number): string {
  const l = labelText(labels);
  return (
    `# HELP ${name}_total ${help}\n# TYPE ${name}_total counter\n${name}_total${l} ${pyFloat(value)}\n` +
    `# HELP ${name}_created ${help}\n# TYPE ${name}_created gauge\n${name}_created${l} ${pyFloat(createdSeconds)}\n`
  );
}
