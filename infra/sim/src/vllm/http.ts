/*
 * vLLM's HTTP framing (uvicorn + FastAPI): lower-case headers, the nested
 * `{"error":{message,type,param,code}}` body of its own errors, and
 * FastAPI's bare `{"detail":…}` for routes that do not exist.
 */
import type { Head, Reply } from '../http.js';

export function json(value: unknown, status = 200): Reply {
  const body = JSON.stringify(value);
  return { status, headers: ['content-length', String(Buffer.byteLength(body)), 'content-type', 'application/json'], body };
}

export const EMPTY_OK: Reply = { status: 200, headers: ['content-length', '0'], body: '' };

export const STREAM_HEAD: Head = { status: 200, headers: ['content-type', 'text/event-stream; charset=utf-8'] };

export const ROUTE_NOT_FOUND = json({ detail: 'Not Found' }, 404);
export const METHOD_NOT_ALLOWED = json({ detail: 'Method Not Allowed' }, 405);

export function error(status: number, type: string, message: string, param: string | null = null): Reply {
  return json({ error: { message, type, param, code: status } }, status);
}

export const badRequest = (message: string, param: string | null = null): Reply => error(400, 'BadRequestError', message, param);

/** FastAPI's RequestValidationError, which vLLM answers with 400 and the status phrase as type. */
export function validationError(kind: string, loc: string | number, msg: string): Reply {
  const where = typeof loc === 'number' ? String(loc) : `'${loc}'`;
  return error(400, 'Bad Request', `[{'type': '${kind}', 'loc': ('body', ${where}), 'msg': '${msg}'}]`);
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  422: 'UnprocessableEntityError',
  501: 'NotImplementedError',
  503: 'ServiceUnavailableError',
};

/** An injected failure, typed the way vLLM's create_error_response types that status. */
export function failure(status: number): Reply {
  return error(status, TYPE_BY_STATUS[status] ?? 'InternalServerError', `Simulated failure (status ${status})`);
}
