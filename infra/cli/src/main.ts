import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), process.env, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
// A Redis client that never connected leaves socket-teardown and reconnect
// timers behind; exit once the output is flushed rather than wait them out.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
process.exit(code);
