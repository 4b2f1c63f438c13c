import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * Runs infergate's own entry points as separate processes, the way Compose
 * and Kubernetes run them: the compiled build when it exists and `useBuild`
 * is asked for, the TypeScript sources through tsx otherwise.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ENTRY = {
  ingress: 'ingress',
  dispatcher: 'dispatcher',
  sim: 'infra/sim',
} as const;

export type ServiceName = keyof typeof ENTRY;

// Node resolves `--import` against the working directory; by path the loader is found from any directory.
const TSX_LOADER = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;

/**
 * The process environment the images set (infra/docker/Dockerfile), so a
 * service started here runs as it does in a container. glibc's malloc keeps
 * up to eight arenas per core for a Node process's threads (V8's helpers,
 * libuv's pool); two cost no measurable speed and save the ingress 4-13 MB
 * of fragmented RSS at 2,000 open streams.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export interface ServiceProcess {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), when captured. */
  output(): string;
  /** Resolves with the exit code (or null after a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Signals the process and waits for it; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export interface SpawnOptions {
  readonly args?: readonly string[];
  /** Called with each output line instead of buffering it. */
  readonly onLine?: (line: string) => void;
  readonly useBuild?: boolean;
  /** The working directory, where the service looks for `.env`; the repository root by default. */
  readonly cwd?: string;
  /** Extra node flags, e.g. `--cpu-prof` for benchmarks. */
  readonly nodeArgs?: readonly string[];
  /** The Node.js binary to run the service on (this process's own by default), e.g. to compare Node versions. */
  readonly node?: string;
  /**
   * Runs the service in a process group of its own, so a terminal's Ctrl-C (sent to the whole
   * foreground group) reaches only the parent, which stops the service itself, once and in order.
   */
  readonly ownProcessGroup?: boolean;
}

function entryArgs(name: ServiceName, useBuild: boolean): string[] {
  const built = join(ROOT, ENTRY[name], 'dist', 'main.js');
  if (useBuild && existsSync(built)) return [built];
  return ['--import', TSX_LOADER, '--conditions=development', join(ROOT, ENTRY[name], 'src', 'main.ts')];
}

export function spawnService(name: ServiceName, env: NodeJS.ProcessEnv, options: SpawnOptions = {}): ServiceProcess {
  const argv = [...(options.nodeArgs ?? []), ...entryArgs(name, options.useBuild ?? false), ...(options.args ?? [])];
  const child = spawn(options.node ?? process.execPath, argv, {
    cwd: options.cwd ?? ROOT,
    env: { ...RUNTIME_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  let out = '';
  let partial = '';
  const take = (d: Buffer) => {
    if (!options.onLine) {
      out += d.toString();
      return;
    }
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) options.onLine(line);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
