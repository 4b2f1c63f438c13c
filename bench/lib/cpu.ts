import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Resident memory of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** This process's soft limit on open files, from /proc (Infinity when unlimited). */
export function openFilesLimit(): number {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Byte counts by name in MiB, to one decimal. */
export function mebibytes(bytes: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(bytes).map(([name, b]) => [name, Math.round((b / 2 ** 20) * 10) / 10]));
}

export interface Measured<T> {
  readonly result: T;
  readonly wallSeconds: number;
  /** CPU seconds each named process used while `run` ran. */
  readonly cpuSeconds: Record<string, number>;
  /** The largest resident memory of each named process seen while `run` ran. */
  readonly peakRssBytes: Record<string, number>;
}

const RSS_SAMPLE_MS = 250;

function mapPids(pids: Readonly<Record<string, number>>, f: (pid: number) => number): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, f(pid)]));
}

/** Runs `run` and accounts what the named processes spent on it. */
export async function measure<T>(pids: Readonly<Record<string, number>>, run: () => Promise<T>): Promise<Measured<T>> {
  const peak = mapPids(pids, rssBytes);
  const sample = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) peak[name] = Math.max(peak[name]!, rssBytes(pid));
  }, RSS_SAMPLE_MS);
  const cpuBefore = mapPids(pids, cpuSeconds);
  const start = performance.now();
  try {
    const result = await run();
    const wallSeconds = (performance.now() - start) / 1000;
    const cpu = mapPids(pids, cpuSeconds);
    for (const name of Object.keys(cpu)) cpu[name] = cpu[name]! - cpuBefore[name]!;
    return { result, wallSeconds, cpuSeconds: cpu, peakRssBytes: peak };
  } finally {
    clearInterval(sample);
  }
}
