export { httpLimitOptions, limitConnections, registerForwardTargetGuard, registerUrlLengthGuard } from './httpLimits.js';
export { KeyLimiter } from './keyLimiter.js';
