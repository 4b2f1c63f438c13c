import { runChaos } from '../tests/support/chaos.js';

/** `npm run chaos [-- seconds]`: the chaos scenario at length, figures printed at the end. */
const seconds = Number(process.argv[2] ?? 180);
const report = await runChaos({ seconds, concurrency: 24, log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exitCode = report.hung === 0 && report.corrupted === 0 && report.afterChaosOk ? 0 : 1;
