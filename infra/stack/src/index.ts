export { provideRedis, NoRedisError, type RedisHandle } from './redisProvider.js';
export { freePort } from './ports.js';
export { RUNTIME_ENV, spawnService, type ServiceName, type ServiceProcess, type SpawnOptions } from './serviceProcess.js';
