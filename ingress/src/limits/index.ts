export { httpLimitOptions, limitConnections, registerRequestTargetGuard } from './httpLimits.js';
export { KeyLimiter } from './keyLimiter.js';
