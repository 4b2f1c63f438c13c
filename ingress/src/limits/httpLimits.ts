import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { gatewayError, isSafeEnginePath, type ErrorCode, type IngressConfig } from '@infergate/shared';

/**
 * Node checks header and request timeouts this often; its default (30 s)
 * would let a slow client hold a connection that much past its deadline.
 */
const TIMEOUT_CHECK_MS = 1_000;

/** Node's own parser and timeout failures, by error code, in the gateway's catalog. */
const CLIENT_ERRORS: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/** Fastify server options that bound what one client can make the ingress hold. */
export function httpLimitOptions(config: IngressConfig) {
  const requestTimeout = config.REQUEST_TIMEOUT_SECONDS * 1000;
  return {
    http: {
      maxHeaderSize: config.MAX_HEADER_BYTES,
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: Math.min(config.HEADERS_TIMEOUT_SECONDS * 1000, requestTimeout),
      requestTimeout,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    // Fastify copies this onto the server after creating it, overriding `http`.
    requestTimeout,
    clientErrorHandler: answerClientError,
  };
}

/**
 * Answers what Node's HTTP parser refused (bad framing, oversized headers,
 * timeouts) with a catalog error, then closes: after a parse error the
 * connection's framing can no longer be trusted.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const open = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
  // As Node itself does: no second status line once a response has begun.
  if (socket.writable && !open?.headersSent) {
    const g = gatewayError(CLIENT_ERRORS[err.code ?? ''] ?? 'malformed_request');
    const body = JSON.stringify(g.toBody());
    socket.write(
      `HTTP/1.1 ${g.status} ${STATUS_CODES[g.status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Refuses, before authentication and routing, a request target too long for any route. */
export function registerUrlLengthGuard(app: FastifyInstance, config: IngressConfig): void {
  const maxLength = config.MAX_URL_LENGTH;
  app.addHook('onRequest', async (request) => {
    if (request.url.length > maxLength) throw gatewayError('url_too_long');
  });
}

/**
 * Refuses, before authentication, a request target that an engine could
 * read differently from the ingress: Fastify routes
 * `http://host/v1/chat/completions` and `/v1/chat/completions#x` as
 * `/v1/chat/completions`, and the target is forwarded as received. Hooked
 * onto the client and probe scopes; the admin and metrics scopes forward
 * nothing and keep their own URL rules.
 */
export function registerForwardTargetGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (!isSafeEnginePath(request.url)) throw gatewayError('invalid_path');
  });
}

/** Caps open client connections; Node closes the ones over the cap as they arrive. */
export function limitConnections(app: FastifyInstance, config: IngressConfig): void {
  if (config.MAX_CONNECTIONS > 0) app.server.maxConnections = config.MAX_CONNECTIONS;
}
