import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import type { FastifyRequest } from 'fastify';
import {
  GEN_AI_OPERATION_NAME,
  GEN_AI_REQUEST_MODEL,
  genAiOperation,
  INFERGATE_DISPATCHER,
  INFERGATE_FINISH,
  INFERGATE_REQUEST_ID,
  isGatewayError,
  usageAttributes,
  type TraceCarrier,
  type Tracing,
} from '@infergate/shared';
import type { RelayOutcome } from '../requestRelay.js';

/**
 * The ingress's spans of one request: the request itself (a server span,
 * the child of the client's `traceparent` when it sent one), its admission,
 * and the relay of the answer from the first frame to the last. The queue
 * wait and the engine call are the dispatcher's, parented on the request
 * span through the job's `trace` field. Made only when tracing is on.
 */
export class RequestTrace {
  private readonly request: Span;
  private admission: Span | undefined;
  private relay: Span | undefined;

  constructor(
    private readonly tracing: Tracing,
    request: FastifyRequest,
  ) {
    const route = request.routeOptions.url ?? request.url;
    this.request = tracing.tracer.startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_HTTP_ROUTE]: route,
          [INFERGATE_REQUEST_ID]: request.id,
          ...operation(request.url),
        },
      },
      tracing.extract(request.headers),
    );
    this.admission = tracing.tracer.startSpan('admission', {}, tracing.within(this.request));
  }

  /** The request resolved to `model` (before admission decides). */
  model(model: string): void {
    this.request.setAttribute(GEN_AI_REQUEST_MODEL, model);
  }

  /** Admission let the request in: what the job carries to the dispatcher. */
  admitted(): TraceCarrier {
    this.admission?.end();
    this.admission = undefined;
    return this.tracing.carrierOf(this.request);
  }

  /** A dispatcher started the job (its first frame arrived). */
  started(): void {
    this.relay = this.tracing.tracer.startSpan('relay', {}, this.tracing.within(this.request));
  }

  /** The request ended before it was queued: refused with a catalog error, failed, or its client left (`cancelled`). */
  refused(err: unknown): void {
    const type = isGatewayError(err) ? err.code : err === 'cancelled' ? err : 'internal_error';
    const status = isGatewayError(err) ? err.status : err === 'cancelled' ? 499 : 500;
    if (this.admission) end(this.admission, type);
    this.request.setAttributes({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, [INFERGATE_FINISH]: type === 'cancelled' ? 'cancelled' : 'refused' });
    end(this.request, type);
  }

  /** The relay settled; `enqueuedAt` dates the first chunk, which the outcome gives relative to it. */
  settled(outcome: RelayOutcome, enqueuedAt: number): void {
    const finish = outcome.error === undefined ? 'completed' : outcome.error === 'cancelled' ? 'cancelled' : 'error';
    const attributes = {
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: outcome.status,
      [INFERGATE_FINISH]: finish,
      ...(outcome.dispatcher === undefined ? {} : { [INFERGATE_DISPATCHER]: outcome.dispatcher }),
      ...(outcome.usage === undefined ? {} : usageAttributes(outcome.usage)),
    };
    if (this.relay) {
      if (outcome.ttftMs !== undefined) this.relay.addEvent('first_chunk', {}, enqueuedAt + outcome.ttftMs);
      this.relay.setAttributes({ 'infergate.relay.bytes': outcome.bytes, 'infergate.relay.chunks': outcome.chunks });
      end(this.relay, outcome.error);
    }
    this.request.setAttributes(attributes);
    end(this.request, outcome.error ?? (outcome.status >= 500 ? String(outcome.status) : undefined));
  }
}

function operation(path: string): Record<string, string> {
  const name = genAiOperation(path);
  return name === undefined ? {} : { [GEN_AI_OPERATION_NAME]: name };
}

/** Ends a span, as an error of `type` when there is one (error.type is the catalog code). */
function end(span: Span, type: string | undefined): void {
  if (type !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, type);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
