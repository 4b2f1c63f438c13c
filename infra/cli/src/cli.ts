import { parseArgs } from 'node:util';
import {
  ConfigError,
  createRedis,
  isGatewayError,
  loadConfig,
  QueueInspector,
  redisNames,
  redisTarget,
  waitReady,
  type Env,
} from '@infergate/shared';
import { commands, UsageError, type CommandArgs } from './commands.js';
import { CliQueues } from './queues.js';

/** A CLI that cannot reach Redis says so within this, instead of retrying. */
const CONNECT_TIMEOUT_MS = 2_000;

export const USAGE = `usage: infergate <command> [options]

Inspects the infergate queues and fleet through Redis (REDIS_URL, REDIS_PREFIX).

commands:
  status                      dispatchers, slots and every model queue
  queues                      model queues: jobs by state, oldest wait, paused
  jobs <model> [--state S[,S]] [--limit N]
                              jobs of one queue, oldest first (default: waiting,
                              prioritized, delayed, active; limit 50 per state)
  cancel <job-id>             remove a queued job or abort a running one; its
                              client gets an error at once
  dispatchers                 dispatchers and their last heartbeat
  pause <model>               stop dispatchers taking jobs of a model
  resume <model>              let them take jobs again

options:
  --json                      machine-readable output
  -h, --help                  this text

exit codes: 0 done, 1 failed (Redis unreachable, unknown job or model), 2 usage error
`;

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** Runs one CLI invocation and resolves with its exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], env: Env, io: CliOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        state: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.err(`infergate: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [name, ...positionals] = parsed.positionals;
  if (parsed.values.help || name === undefined) {
    (parsed.values.help ? io.out : io.err)(USAGE);
    return parsed.values.help ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.err(`infergate: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }

  let config;
  try {
    config = loadConfig('common', env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`infergate: ${err.message}\n`);
    return 1;
  }
  const target = redisTarget(config);
  const redis = createRedis(target, 'command', 'ig-cli');
  let lastError = '';
  redis.on('error', (err: Error) => (lastError = err.message));
  const names = redisNames(config.REDIS_PREFIX);
  const queues = new CliQueues(redis, names);
  const inspector = new QueueInspector(redis, queues.queue, names.laneSet);
  try {
    try {
      await waitReady(redis, CONNECT_TIMEOUT_MS);
    } catch {
      const where = target.form === 'single' ? displayUrl(target.url) : `the ${target.form} nodes`;
      io.err(`infergate: cannot reach Redis at ${where} within ${CONNECT_TIMEOUT_MS} ms${lastError ? ` (${lastError})` : ''}\n`);
      return 1;
    }
    const args: CommandArgs = { positionals, state: parsed.values.state, limit: parsed.values.limit };
    const result = await command({ redis, names, inspector }, args);
    io.out(parsed.values.json ? `${JSON.stringify(result.data, null, 2)}\n` : result.text);
    return 0;
  } catch (err) {
    // A bad option value (e.g. --limit) is reported by the shared inspection code as an invalid parameter.
    if (err instanceof UsageError || (isGatewayError(err) && err.code === 'invalid_parameter')) {
      io.err(`infergate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`infergate: ${(err as Error).message}\n`);
    return 1;
  } finally {
    // The command's answer is out and the process exits next; a queue that cannot close cleanly holds nothing.
    await queues.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** The Redis URL without its password, for messages. */
function displayUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
