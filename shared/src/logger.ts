import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Header and field paths that may hold credentials, wherever they are logged. */
const REDACTED_PATHS = [
  'authorization',
  'cookie',
  '["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["set-cookie"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'password',
  'apiKey',
  'token',
];

export interface LoggerSettings {
  readonly name: string;
  readonly level: string;
  /** Configured secret values (API keys, passwords) scrubbed from every line. */
  readonly secrets?: readonly string[];
  readonly destination?: pino.DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const secrets = (settings.secrets ?? []).filter((s) => s.length >= 4);
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (secrets.length > 0) {
    // Paths cannot catch a secret inside free text (a URL, an error message),
    // so each finished line is scrubbed too; lines are per request, not per token.
    options.hooks = {
      streamWrite: (line: string) => secrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), line),
    };
  }
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
