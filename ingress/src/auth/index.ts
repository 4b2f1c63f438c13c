export { Authenticator } from './authenticator.js';
export { registerAuth } from './hook.js';
export { isSelfGuardedPath, pathOf, PROBE_PATHS } from './paths.js';
export type { Principal } from './principal.js';
