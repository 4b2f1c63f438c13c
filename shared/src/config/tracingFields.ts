import { z } from 'zod';

/*
 * OpenTelemetry tracing (docs/metrics.md, "Traces"), configured by the
 * standard OTEL_* variables so any OpenTelemetry operator recognises them.
 * Tracing is off unless an OTLP endpoint is set. Both services read the same
 * fields; each has its own default service name.
 */

const otlpUrl = z.string().refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');
const otlpProtocol = z.enum(['http/protobuf', 'http/json'], { message: 'must be http/protobuf or http/json (grpc is not supported)' });

export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export const tracingFields = {
  /** `true` turns tracing off whatever else is set (the SDK-wide switch of the specification). */
  OTEL_SDK_DISABLED: z.stringbool().default(false),
  /** Base URL of an OTLP/HTTP receiver; traces go to `<base>/v1/traces`. Unset (and no traces endpoint): no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  /** Full URL for traces, used as given; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.default('http/protobuf'),
  /** Wins over OTEL_EXPORTER_OTLP_PROTOCOL for traces. */
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  /** Defaults to `infergate-ingress` / `infergate-dispatcher`. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_TRACES_SAMPLER: z.enum(TRACES_SAMPLERS).default('parentbased_always_on'),
  /** The ratio of the `traceidratio` samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  /** Milliseconds between two exports of the finished spans. */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().positive().default(5000),
} satisfies Record<string, z.ZodType>;

/** The tracing settings, as either service's configuration holds them. */
export type TracingConfig = Readonly<z.output<z.ZodObject<typeof tracingFields>>>;
