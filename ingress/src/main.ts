import closeWithGrace from 'close-with-grace';
import { authenticationConfigured, ConfigError, createLogger, EXIT_CONFIG, loadConfigOrExit, redisSecrets, redisTarget } from '@infergate/shared';
import { startIngress } from './ingress.js';

const config = loadConfigOrExit('ingress', 'ingress');
// The configuration holds the keys' hashes; the plaintext list should not outlive start-up.
delete process.env.API_KEYS;
const open = !authenticationConfigured(config);
if (open && !config.ALLOW_OPEN_ACCESS) {
  process.stderr.write(
    'infergate ingress: no API_KEYS (or API_KEYS_FILE), JWT_SECRET or JWT_JWKS is configured, so any client could use ' +
      'the engines. Configure keys, or set ALLOW_OPEN_ACCESS=true to serve without authentication on purpose.\n',
  );
  process.exit(EXIT_CONFIG);
}
const logger = createLogger({
  name: 'ingress',
  level: config.LOG_LEVEL,
  secrets: [...redisSecrets(redisTarget(config)), config.ADMIN_API_KEY ?? ''].filter(Boolean),
});
if (open) logger.warn('OPEN ACCESS: ALLOW_OPEN_ACCESS=true and no API keys or JWT configured; every client is served without authentication');
let ingress;
try {
  ingress = await startIngress(config, logger);
} catch (err) {
  logger.fatal(`cannot start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1);
}
await ingress.app.listen({ port: config.PORT, host: config.HOST });
closeWithGrace({ delay: (config.DRAIN_TIMEOUT_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'fatal error; stopping');
  else logger.info({ signal }, 'stopping');
  await ingress.close();
});
