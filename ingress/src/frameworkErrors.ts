import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { gatewayError, isGatewayError, type GatewayError } from '@infergate/shared';
import { errorHeaders } from './errorResponse.js';

/** Fastify's own failures (body limits, bad framing) mapped onto the gateway's error catalog. */
export function asGatewayError(err: FastifyError | Error): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as FastifyError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return gatewayError('body_too_large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return gatewayError('invalid_body');
    case 'FST_ERR_BAD_URL':
      return gatewayError('invalid_path');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return gatewayError('url_too_long');
    default:
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
        return gatewayError('invalid_body', 'The request could not be read.');
      }
      return gatewayError('internal');
  }
}

/** Every error the ingress answers itself: the catalog's body, its status, the request id. */
export function sendError(request: FastifyRequest, reply: FastifyReply, g: GatewayError): void {
  void reply.code(g.status).headers(errorHeaders(g, request.id)).send(g.toBody());
}

/** The not-found handler of every scope that has one: the catalog's 404 naming the path, never its query. */
export function answerUnknownPath(request: FastifyRequest, reply: FastifyReply): void {
  sendError(request, reply, gatewayError('unsupported_path', `Unknown or forbidden path: ${request.method} ${request.url.split('?')[0]}`));
}
