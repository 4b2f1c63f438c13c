import { z } from 'zod';
import { affinityDispatcherFields, affinityIngressFields } from './affinityFields.js';
import { loadDotEnv } from './dotenv.js';
import { ConfigError, resolveFileVariables, type Env } from './env.js';
import { checkRedisForm, commonFields, dispatcherFields, ingressFields, stackFields, type FieldSet } from './fields.js';
import { checkMetricsGuard, observabilityDispatcherFields, observabilityIngressFields } from './observabilityFields.js';
import { securityDispatcherFields, securityIngressFields } from './securityFields.js';
import { tracingFields } from './tracingFields.js';
import { usageIngressFields } from './usageFields.js';

export { loadDotEnv } from './dotenv.js';
export { ConfigError, type Env } from './env.js';
export { ANY_PATH, isIngressRoute } from './forwardPaths.js';
export { corsEnabled, corsOriginAllowed, type CorsOrigins } from './corsOrigins.js';

const allIngressFields = {
  ...commonFields,
  ...ingressFields,
  ...securityIngressFields,
  ...observabilityIngressFields,
  ...usageIngressFields,
  ...affinityIngressFields,
  ...tracingFields,
};
const allDispatcherFields = {
  ...commonFields,
  ...dispatcherFields,
  ...securityDispatcherFields,
  ...observabilityDispatcherFields,
  ...affinityDispatcherFields,
  ...tracingFields,
};

const schemas = {
  ingress: z.object(allIngressFields).superRefine(checkRedisForm).superRefine(checkMetricsGuard),
  dispatcher: z.object(allDispatcherFields).superRefine(checkRedisForm),
  stack: z.object({ ...commonFields, ...stackFields }).superRefine(checkRedisForm),
  common: z.object(commonFields).superRefine(checkRedisForm),
};

export type Role = keyof typeof schemas;
export type IngressConfig = Readonly<z.output<typeof schemas.ingress>>;
export type DispatcherConfig = Readonly<z.output<typeof schemas.dispatcher>>;
export type StackConfig = Readonly<z.output<typeof schemas.stack>>;
export type CommonConfig = Readonly<z.output<typeof schemas.common>>;
export type ConfigOf<R extends Role> = Readonly<z.output<(typeof schemas)[R]>>;

/** Names of every variable any role reads, for documentation checks. */
export const knownVariables: readonly string[] = [
  ...new Set(
    [allIngressFields, allDispatcherFields, stackFields].flatMap((f: FieldSet) => Object.keys(f)),
  ),
];

/**
 * Reads, validates and freezes the configuration of one process role.
 * Empty strings count as unset so `.env` lines like `DEFAULT_MODEL=` keep
 * their defaults. Throws {@link ConfigError} naming every bad variable.
 */
export function loadConfig<R extends Role>(role: R, env: Env = process.env): ConfigOf<R> {
  const { values: input, problems } = resolveFileVariables(env, Object.keys(schemas[role].shape));
  const parsed = schemas[role].safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.') || '(root)';
      problems.push(`${name}: ${input[name] === undefined ? 'is required' : issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return Object.freeze(parsed.data) as ConfigOf<R>;
}

/**
 * The environment a child process of the local stack starts with: this
 * process's environment plus the child's own settings.
 */
export function childEnvironment(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}

/** Exit status for a configuration error (EX_CONFIG), so supervisors do not restart in a loop. */
export const EXIT_CONFIG = 78;

/**
 * `loadConfig` for an entry point, after adding `.env` from the working
 * directory to the environment: a configuration error is printed with the
 * program's name and ends the process; nothing else is caught. Every entry
 * point (`npm start`, the ingress, the dispatcher) reads `.env` here.
 */
export function loadConfigOrExit<R extends Role>(role: R, program: string): ConfigOf<R> {
  try {
    loadDotEnv();
    return loadConfig(role);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`infergate ${program}: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}
