import closeWithGrace from 'close-with-grace';
import { ConfigError, createLogger, loadConfig } from '@infergate/shared';
import { startDispatcher } from './dispatcher.js';

let config;
try {
  config = loadConfig('dispatcher');
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`infergate dispatcher: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}
const logger = createLogger({
  name: 'dispatcher',
  level: config.LOG_LEVEL,
  secrets: [config.ENGINE_API_KEY ?? '', new URL(config.REDIS_URL).password].filter(Boolean),
});
const dispatcher = await startDispatcher(config, logger);
closeWithGrace({ delay: (config.DRAIN_TIMEOUT_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'fatal error; stopping');
  else logger.info({ signal }, 'stopping');
  await dispatcher.close();
});
