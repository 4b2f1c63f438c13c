import closeWithGrace from 'close-with-grace';
import { ConfigError, createLogger, EXIT_CONFIG, loadConfigOrExit, redisSecrets, redisTarget } from '@infergate/shared';
import { startDispatcher } from './dispatcher.js';

const config = loadConfigOrExit('dispatcher', 'dispatcher');
const logger = createLogger({
  name: 'dispatcher',
  level: config.LOG_LEVEL,
  secrets: [config.ENGINE_API_KEY ?? '', ...redisSecrets(redisTarget(config))].filter(Boolean),
});
let dispatcher;
try {
  dispatcher = await startDispatcher(config, logger);
} catch (err) {
  logger.fatal(`cannot start: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1);
}
closeWithGrace({ delay: (config.DRAIN_TIMEOUT_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'fatal error; stopping');
  else logger.info({ signal }, 'stopping');
  await dispatcher.close();
});
