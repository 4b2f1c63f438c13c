/*
 * llama-server's HTTP framing (cpp-httplib): `Server: llama.cpp`, a CORS
 * origin echo, keep-alive on success and `Connection: close` on every error,
 * and two error body layouts — `{code,message,type}` from handlers and
 * `{message,type,code}` from the HTTP layer (404, 503 while loading).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Head, Reply } from '../http.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const KEEP_ALIVE = ['Keep-Alive', 'timeout=5, max=100'];

/** Headers every llama-server response starts with. */
export function baseHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.sendDate = false;
  res.setHeader('Server', 'llama.cpp');
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '');
}

export function reply(status: number, contentType: string, body: string, extra: readonly string[] = []): Reply {
  const length = ['Content-Length', String(Buffer.byteLength(body))];
  const connection = status >= 400 ? ['Connection', 'close'] : KEEP_ALIVE;
  return { status, headers: [...extra, 'Content-Type', contentType, ...length, ...connection], body };
}

export function json(value: unknown, status = 200): Reply {
  return reply(status, JSON_TYPE, JSON.stringify(value));
}

export const STREAM_HEAD: Head = {
  status: 200,
  headers: ['X-Accel-Buffering', 'no', 'Content-Type', 'text/event-stream', ...KEEP_ALIVE],
};

const TYPE_STATUS = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  server_error: 500,
  not_supported_error: 501,
  unavailable_error: 503,
  exceed_context_size_error: 400,
} as const;

export type ErrorType = keyof typeof TYPE_STATUS;

/** `format_error_response`: the status comes from the type. */
export function handlerError(type: ErrorType, message: string, extra: Record<string, unknown> = {}): Reply {
  const code = TYPE_STATUS[type];
  return json({ error: { code, message, type, ...extra } }, code);
}

function httpLayerError(type: ErrorType, message: string): Reply {
  const code = TYPE_STATUS[type];
  return json({ error: { message, type, code } }, code);
}

export const NOT_FOUND = httpLayerError('not_found_error', 'File Not Found');
export const LOADING = httpLayerError('unavailable_error', 'Loading model');

/** An injected failure, typed the way llama-server types that status. */
export function failure(status: number): Reply {
  const type = (Object.keys(TYPE_STATUS) as ErrorType[]).find((t) => TYPE_STATUS[t] === status) ?? 'server_error';
  return json({ error: { code: status, message: `Simulated failure (status ${status})`, type } }, status);
}

export function notSupported(message: string): Reply {
  return handlerError('not_supported_error', message);
}
