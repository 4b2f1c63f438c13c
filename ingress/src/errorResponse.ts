import type { ServerResponse } from 'node:http';
import type { GatewayError } from '@infergate/shared';

/** Headers that go with a gateway error: JSON, and Retry-After where the error has one. */
export function errorHeaders(err: GatewayError, rid: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (rid !== undefined) headers['x-request-id'] = rid;
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
  return headers;
}

/** Answers a request the relay took over (hijacked) with a gateway error. */
export function writeErrorResponse(res: ServerResponse, err: GatewayError, rid: string): void {
  const body = JSON.stringify(err.toBody());
  res.writeHead(err.status, { ...errorHeaders(err, rid), 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** The same error as one Server-Sent Event, for a stream that already started. */
export function sseErrorEvent(err: GatewayError): string {
  return `data: ${JSON.stringify(err.toBody())}\n\n`;
}
