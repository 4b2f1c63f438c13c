export { Authenticator } from './authenticator.js';
export { decoratePrincipal, registerAuth } from './hook.js';
export type { Principal } from './principal.js';
