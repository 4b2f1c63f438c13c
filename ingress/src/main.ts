import closeWithGrace from 'close-with-grace';
import { ConfigError, createLogger, loadConfig } from '@infergate/shared';
import { startIngress } from './ingress.js';

let config;
try {
  config = loadConfig('ingress');
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`infergate ingress: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}
const logger = createLogger({
  name: 'ingress',
  level: config.LOG_LEVEL,
  secrets: [new URL(config.REDIS_URL).password].filter(Boolean),
});
const ingress = await startIngress(config, logger);
await ingress.app.listen({ port: config.PORT, host: config.HOST });
closeWithGrace({ delay: (config.DRAIN_TIMEOUT_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'fatal error; stopping');
  else logger.info({ signal }, 'stopping');
  await ingress.close();
});
