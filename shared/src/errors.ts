/*
 * Every error infergate itself answers with, in one registry: a stable code,
 * the HTTP status, and the OpenAI error `type`. Engine errors are relayed as
 * the engine sent them and never pass through here.
 */

const catalog = {
  invalid_json: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid JSON.' },
  invalid_body: { status: 400, type: 'invalid_request_error', message: 'The request body must be a JSON object.' },
  body_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body is too large.' },
  malformed_request: { status: 400, type: 'invalid_request_error', message: 'The request is not valid HTTP.' },
  invalid_path: { status: 400, type: 'invalid_request_error', message: 'The request target must be a plain path: no host, no empty, "." or ".." segments, no encoded slashes.' },
  url_too_long: { status: 414, type: 'invalid_request_error', message: 'The request URL is too long.' },
  headers_too_large: { status: 431, type: 'invalid_request_error', message: 'The request headers are too large.' },
  request_timeout: { status: 408, type: 'invalid_request_error', message: 'The request was not received in time.' },
  unsupported_path: { status: 404, type: 'invalid_request_error', message: 'Unknown or forbidden path.' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', message: 'Method not allowed on this path.' },
  model_not_found: { status: 404, type: 'invalid_request_error', message: 'The model does not exist.' },
  model_required: { status: 400, type: 'invalid_request_error', message: 'A model must be given; no default model is configured.' },
  unauthorized: { status: 401, type: 'authentication_error', message: 'Missing or invalid API key.' },
  forbidden: { status: 403, type: 'permission_error', message: 'Not allowed.' },
  rate_limited: { status: 429, type: 'rate_limit_error', message: 'Too many requests.' },
  concurrency_limited: { status: 429, type: 'rate_limit_error', message: 'Too many requests at once for this key.' },
  token_rate_limited: { status: 429, type: 'rate_limit_error', message: 'Token rate limit reached for this key.' },
  daily_token_budget_exceeded: { status: 429, type: 'rate_limit_error', message: 'Daily token budget used up for this key.' },
  monthly_token_budget_exceeded: { status: 429, type: 'rate_limit_error', message: 'Monthly token budget used up for this key.' },
  queue_full: { status: 429, type: 'rate_limit_error', message: 'The queue for this model is full.' },
  queue_timeout: { status: 503, type: 'server_error', message: 'No engine could start the request in time.' },
  no_capacity: { status: 503, type: 'server_error', message: 'No engine is available for this model.' },
  shutting_down: { status: 503, type: 'server_error', message: 'The gateway is shutting down.' },
  dispatcher_silent: { status: 504, type: 'server_error', message: 'No dispatcher of this model answered in time.' },
  backend_timeout: { status: 504, type: 'server_error', message: 'The engine did not answer in time.' },
  idle_timeout: { status: 504, type: 'server_error', message: 'The engine stopped sending data.' },
  backend_unavailable: { status: 502, type: 'server_error', message: 'The engine failed before answering.' },
  stream_interrupted: { status: 502, type: 'server_error', message: 'The response was interrupted.' },
  relay_lost: { status: 502, type: 'server_error', message: 'Part of the response was lost in transit.' },
  cancelled: { status: 499, type: 'server_error', message: 'The request was cancelled.' },
  operator_cancelled: { status: 503, type: 'server_error', message: 'The request was cancelled by an operator.' },
  job_not_found: { status: 404, type: 'invalid_request_error', message: 'No queued or running job has this id.' },
  job_finished: { status: 409, type: 'invalid_request_error', message: 'The job has already finished.' },
  invalid_parameter: { status: 400, type: 'invalid_request_error', message: 'A parameter is invalid.' },
  redis_unavailable: { status: 503, type: 'server_error', message: 'The queue store is unavailable.' },
  internal: { status: 500, type: 'server_error', message: 'Internal error.' },
} as const satisfies Record<string, { status: number; type: string; message: string }>;

export type ErrorCode = keyof typeof catalog;

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** A gateway error as a value: code, status and body come from the catalog. */
export class GatewayError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly options: { param?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message ?? catalog[code].message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = catalog[code].status;
    this.type = catalog[code].type;
  }

  get retryAfterSeconds(): number | undefined {
    return this.options.retryAfterSeconds;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.options.param ?? null, code: this.code } };
  }
}

export function gatewayError(
  code: ErrorCode,
  message?: string,
  options?: { param?: string; retryAfterSeconds?: number; cause?: unknown },
): GatewayError {
  return new GatewayError(code, message, options);
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError || (err as { name?: string } | null)?.name === 'GatewayError';
}

/** Error codes travel between processes by name; unknown names degrade to `internal`. */
export function errorCodeOf(name: string): ErrorCode {
  return Object.hasOwn(catalog, name) ? (name as ErrorCode) : 'internal';
}
