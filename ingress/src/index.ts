export { startIngress, type IngressHandle } from './ingress.js';
export { buildApp } from './app.js';
export type { IngressContext } from './context.js';
