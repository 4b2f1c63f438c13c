/* A stand-in for llama-server's web UI: a page at `/` that loads one asset, as its build does. */
import type { Reply } from '../http.js';
import { reply } from './http.js';

const PAGE = '<!doctype html><html><head><title>llama.cpp - chat</title><script src="bundle.js"></script></head><body><div id="app"></div></body></html>\n';
const BUNDLE = 'fetch("props").then((r) => r.json()).then((p) => { document.title = p.model_alias; });\n';

export const WEB_UI: Readonly<Record<string, () => Reply>> = {
  '/': () => reply(200, 'text/html; charset=utf-8', PAGE),
  '/bundle.js': () => reply(200, 'application/javascript; charset=utf-8', BUNDLE),
};
