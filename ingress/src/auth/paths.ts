/** Orchestrator probes answer without credentials: kubelets and load balancers have none. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/livez', '/readyz']);

/**
 * Routes whose own plugins check credentials (the admin key of `/admin` and
 * `/metrics`): the client API-key check leaves them alone, so neither kind
 * of key opens the other's routes.
 */
export function isSelfGuardedPath(path: string): boolean {
  return path === '/metrics' || path === '/admin' || path.startsWith('/admin/');
}

/** The path of a request target, without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
