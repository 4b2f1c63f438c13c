#!/usr/bin/env node
// The `infergate` command: the compiled CLI once `npm run build` has run,
// else the TypeScript sources through tsx, with workspace packages resolved
// to their sources too (the `development` condition).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const run = spawnSync(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), '--conditions=development', source, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exitCode = run.status ?? 1;
}
