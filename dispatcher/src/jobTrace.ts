import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import type { Job } from 'bullmq';
import {
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_REQUEST_MODEL,
  genAiOperation,
  INFERGATE_ATTEMPT,
  INFERGATE_DISPATCHER,
  INFERGATE_FINISH,
  INFERGATE_LANE,
  INFERGATE_PRIORITY,
  INFERGATE_REQUEST_ID,
  usageAttributes,
  type InferenceJob,
  type TokenUsage,
  type TraceCarrier,
  type Tracing,
} from '@infergate/shared';
import type { JobOutcome } from './jobRunner.js';

/** What the engine call reports to its span, from the job runner. */
export interface EngineCallTrace {
  /** The trace context the engine's request carries: the engine call span's. */
  readonly headers: TraceCarrier;
  /** The engine's response head arrived. */
  responded(status: number): void;
  /** Its first body bytes arrived. */
  readonly firstChunk: () => void;
  usage(usage: TokenUsage | undefined): void;
  finished(outcome: JobOutcome): void;
}

export interface TracedEngine {
  readonly dispatcherId: string;
  /** The engine's origin, `http://host:port`. */
  readonly origin: string;
  /** llamacpp or vllm. */
  readonly kind: string;
}

/**
 * The dispatcher's spans of one job, both children of the ingress's request
 * span (the job's `trace`): the wait in the queue, from the enqueue to this
 * pickup, recorded at once with the enqueue time as its start; and the call
 * to the engine, with the response head and the first chunk as events.
 */
export class JobTracer {
  private readonly server: { readonly address: string; readonly port: number };

  constructor(
    private readonly tracing: Tracing,
    private readonly engine: TracedEngine,
  ) {
    const url = new URL(engine.origin);
    this.server = { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  }

  start(job: Job, data: InferenceJob, lane: string | undefined): EngineCallTrace {
    const { tracer } = this.tracing;
    const parent = this.tracing.extract(data.trace);
    const common = { [GEN_AI_REQUEST_MODEL]: data.model, [INFERGATE_REQUEST_ID]: data.rid };
    tracer
      .startSpan(
        'queue wait',
        {
          kind: SpanKind.CONSUMER,
          startTime: data.enqueuedAt,
          attributes: {
            ...common,
            'messaging.system': 'bullmq',
            'messaging.destination.name': job.queueName,
            [INFERGATE_LANE]: lane ?? 'shared',
            [INFERGATE_PRIORITY]: job.opts.priority ?? 0,
            [INFERGATE_ATTEMPT]: job.attemptsStarted,
            [INFERGATE_DISPATCHER]: this.engine.dispatcherId,
          },
        },
        parent,
      )
      .end();
    const operation = genAiOperation(data.path);
    const span = tracer.startSpan(
      `${operation ?? data.method} ${data.model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          ...common,
          ...(operation === undefined ? {} : { [GEN_AI_OPERATION_NAME]: operation }),
          [GEN_AI_PROVIDER_NAME]: this.engine.kind,
          [ATTR_SERVER_ADDRESS]: this.server.address,
          [ATTR_SERVER_PORT]: this.server.port,
          [INFERGATE_DISPATCHER]: this.engine.dispatcherId,
        },
      },
      parent,
    );
    return new EngineCall(span, this.tracing.carrierOf(span));
  }
}

class EngineCall implements EngineCallTrace {
  private readonly startedAt = performance.now();

  constructor(
    private readonly span: Span,
    readonly headers: TraceCarrier,
  ) {}

  responded(status: number): void {
    this.span.setAttributes({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, 'infergate.engine.time_to_head_ms': performance.now() - this.startedAt });
    this.span.addEvent('response_head');
  }

  readonly firstChunk = (): void => {
    this.span.setAttribute('infergate.engine.time_to_first_chunk_ms', performance.now() - this.startedAt);
    this.span.addEvent('first_chunk');
  };

  usage(usage: TokenUsage | undefined): void {
    if (usage) this.span.setAttributes(usageAttributes(usage));
  }

  finished(outcome: JobOutcome): void {
    this.span.setAttribute(INFERGATE_FINISH, outcome.kind);
    const type = outcome.kind === 'failed' ? outcome.code : outcome.kind === 'cancelled' ? outcome.reason : outcome.kind === 'retry' ? 'retry' : undefined;
    if (type !== undefined) {
      this.span.setAttribute(ATTR_ERROR_TYPE, type);
      this.span.setStatus({ code: SpanStatusCode.ERROR, ...(outcome.kind === 'retry' ? { message: outcome.reason } : {}) });
    }
    this.span.end();
  }
}
