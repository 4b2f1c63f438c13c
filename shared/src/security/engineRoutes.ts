/*
 * Which engine routes the gateway passes on besides inference, and which it
 * never does. Inference POSTs are forwarded by default unless they are an
 * engine admin action (a deny-list, so that a route a new engine release adds
 * works without a gateway release; docs/security.md says why). Read-only GETs
 * are an allow-list: each one is answered by an engine outside the queue and
 * the capacity gate, so only routes known to be cheap and harmless go there.
 */

/** The path of a request target, without its query string and any trailing slash. */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * Engine admin actions [llama.cpp tools/server/server.cpp, vLLM
 * entrypoints/serve/*]: they change the engine's state for every user, so
 * no client of the gateway may call them, whatever FORWARD_PATHS says.
 * A path matches an entry itself or anything below it.
 */
export const ENGINE_ADMIN_PATHS: readonly string[] = [
  // llama.cpp: slot save/restore/erase, global properties, LoRA scales, router-mode model loading.
  '/slots',
  '/props',
  '/lora-adapters',
  '/models',
  // llama.cpp: ends the reasoning of a running request named by id, anyone's.
  '/v1/chat/completions/control',
  // vLLM: SageMaker's catch-all (a second route table behind one path) and the token-level
  // generate route of disaggregated serving (engine-internal traffic, not a client API).
  '/invocations',
  '/inference',
  // vLLM: runtime LoRA, profiling, dev-mode routes (VLLM_SERVER_DEV_MODE), elastic scaling, weight updates.
  '/v1/load_lora_adapter',
  '/v1/unload_lora_adapter',
  '/start_profile',
  '/stop_profile',
  '/reset_prefix_cache',
  '/reset_mm_cache',
  '/reset_encoder_cache',
  '/sleep',
  '/wake_up',
  '/is_sleeping',
  '/pause',
  '/resume',
  '/is_paused',
  '/collective_rpc',
  '/server_info',
  '/scale_elastic_ep',
  '/is_scaling_elastic_ep',
  '/update_weights',
  '/init_weight_transfer_engine',
];

/**
 * The web UI's server-side fetch helpers: llama-server's CORS/MCP proxy
 * (`--ui-mcp-proxy`) and built-in tools (`--tools`) fetch URLs or run tools
 * on the engine host for whoever asks, an SSRF surface. Forwarded only with
 * ENGINE_UI_HELPERS=true.
 */
export const ENGINE_UI_HELPER_PATHS: readonly string[] = ['/cors-proxy', '/tools'];

/**
 * Read-only engine GETs answered outside the queue: llama.cpp `/props`,
 * `/slots` (the list; its `?action=` POSTs are admin), `/models` (router
 * mode lists load status there); vLLM
 * `/version`, `/load` (its own load counter), `/tokenizer_info` (with
 * --enable-tokenizer-info-endpoint). `/v1/models` is the gateway's own,
 * merged across engines. Not `/lora-adapters`: the UI does not need it and
 * it names adapter files on the engine host.
 */
export const ENGINE_READ_PATHS: readonly string[] = ['/props', '/slots', '/models', '/version', '/load', '/tokenizer_info'];

const under = (path: string, prefixes: readonly string[]) => prefixes.some((p) => path === p || path.startsWith(`${p}/`));

/**
 * A path made of plain route segments only (letters, digits, `_ . ~ -`),
 * as every engine route is: what FORWARD_PATHS=any may forward. Anything
 * else (`/..;/slots/0`, `;` path parameters, `%` escapes) could be read by
 * some engine or proxy as another path than the one the deny-list checked.
 */
export function isPlainRoutePath(target: string): boolean {
  return /^(?:\/[A-Za-z0-9_.~-]+)+$/.test(pathOf(target));
}

/** True for a POST no client may send through the gateway: an engine admin action or, unless allowed, a UI helper. */
export function isDeniedEnginePost(target: string, options: { readonly uiHelpers: boolean }): boolean {
  const path = pathOf(target);
  return under(path, ENGINE_ADMIN_PATHS) || (!options.uiHelpers && under(path, ENGINE_UI_HELPER_PATHS));
}

/** Files the llama.cpp web UI loads next to its `/` page (the built bundle, icons, its manifest). */
const STATIC_FILE = /\.(?:html|js|mjs|css|map|json|webmanifest|svg|png|ico|jpg|jpeg|webp|gif|woff2?|ttf|txt)$/i;

/** True for the web UI's page or one of its static files. */
export function isWebUiAsset(target: string): boolean {
  const path = pathOf(target);
  return path === '/' || STATIC_FILE.test(path);
}

/**
 * What a dispatcher may forward outside the queue: a read-only GET (or HEAD)
 * of the allow-list or the web UI, or a UI helper the ingress chose to
 * forward. Checked again by the dispatcher, so a message put in Redis by
 * anything else cannot aim the engine at an admin action.
 */
export function isPassthroughTarget(method: string, target: string): boolean {
  const path = pathOf(target);
  if (method === 'GET' || method === 'HEAD') {
    return ENGINE_READ_PATHS.includes(path) || isWebUiAsset(path) || under(path, ENGINE_UI_HELPER_PATHS);
  }
  return method === 'POST' && under(path, ENGINE_UI_HELPER_PATHS);
}
