import { ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { Sampler, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config/tracingFields.js';

/** W3C trace context as it crosses the queue in a job: the two headers, nothing else. */
export interface TraceCarrier {
  readonly traceparent: string;
  readonly tracestate?: string;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * One service's tracer with the W3C trace-context propagation it needs.
 * Parents are passed explicitly: no context manager, no `context.with`, so
 * nothing tracing-related runs on a path that does not create a span.
 */
export interface Tracing {
  readonly tracer: Tracer;
  /** The context whose parent is the `traceparent` in `headers` (a request's, or a job's carrier); the root when it has none valid. */
  extract(headers: Headers | TraceCarrier | undefined): Context;
  /** A context with `span` as the parent of what starts in it. */
  within(span: Span): Context;
  /** The `traceparent`/`tracestate` naming `span`. */
  carrierOf(span: Span): TraceCarrier;
  /** Exports what is still buffered; call once, when the service stops. */
  shutdown(): Promise<void>;
}

/** Where traces go, or undefined when tracing is off (no endpoint, or OTEL_SDK_DISABLED). */
export function tracesEndpoint(config: TracingConfig): string | undefined {
  if (config.OTEL_SDK_DISABLED) return undefined;
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Starts the service's tracer, or resolves undefined when tracing is off.
 * The SDK is loaded only when it is on, so a service without tracing does
 * not pay for it even in memory.
 */
export async function startTracing(
  config: TracingConfig,
  defaultServiceName: string,
  resourceAttributes: Readonly<Record<string, string>> = {},
): Promise<Tracing | undefined> {
  const url = tracesEndpoint(config);
  if (url === undefined) return undefined;
  const [{ W3CTraceContextPropagator, TRACE_PARENT_HEADER, TRACE_STATE_HEADER }, { resourceFromAttributes }, sdk, { ATTR_SERVICE_NAME }] = await Promise.all([
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const exporter = await otlpExporter(config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL, url);
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? defaultServiceName, ...resourceAttributes }),
    sampler: sampler(sdk, config),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY })],
  });
  const propagator = new W3CTraceContextPropagator();
  const getter = {
    get: (carrier: Headers, key: string) => carrier[key],
    keys: (carrier: Headers) => Object.keys(carrier),
  };
  return {
    tracer: provider.getTracer('infergate'),
    extract: (headers) => (headers === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, headers, getter)),
    within: (span) => trace.setSpan(ROOT_CONTEXT, span),
    carrierOf(span) {
      const out: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), out, {
        set: (carrier: Record<string, string>, key: string, value: string) => {
          carrier[key] = value;
        },
      });
      const state = out[TRACE_STATE_HEADER];
      return { traceparent: out[TRACE_PARENT_HEADER]!, ...(state === undefined ? {} : { tracestate: state }) };
    },
    shutdown: () => provider.shutdown(),
  };
}

async function otlpExporter(protocol: TracingConfig['OTEL_EXPORTER_OTLP_PROTOCOL'], url: string): Promise<SpanExporter> {
  const { OTLPTraceExporter } =
    protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url });
}

function sampler(sdk: typeof import('@opentelemetry/sdk-trace-base'), config: TracingConfig): Sampler {
  const ratio = new sdk.TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG);
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio });
  }
}
