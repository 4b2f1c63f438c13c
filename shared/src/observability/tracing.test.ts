import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { startTracing, tracesEndpoint } from './tracing.js';

const tracingConfig = (env: Record<string, string>) => loadConfig('dispatcher', { ENGINE_URL: 'http://127.0.0.1:1', ...env });

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

describe('tracing configuration', () => {
  it('is off without an endpoint, and with OTEL_SDK_DISABLED whatever the endpoint', async () => {
    expect(await startTracing(tracingConfig({}), 'x')).toBeUndefined();
    expect(await startTracing(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }), 'x')).toBeUndefined();
  });

  it('sends traces to <endpoint>/v1/traces, or to the traces endpoint as given', () => {
    expect(tracesEndpoint(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318/' }))).toBe('http://jaeger:4318/v1/traces');
    expect(
      tracesEndpoint(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/otlp/traces' })),
    ).toBe('http://tempo:4318/otlp/traces');
  });

  it('refuses a protocol it cannot speak and a sampler ratio out of range', () => {
    expect(() => tracingConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
    expect(() => tracingConfig({ OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => tracingConfig({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER/);
  });
});

describe('tracing export', () => {
  it('exports http/protobuf spans carrying the trace of the parent it was given', async () => {
    const bodies: Array<{ type: string | undefined; body: Buffer }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const tracing = await startTracing(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: url }), 'infergate-test');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = tracing!.tracer.startSpan('work', {}, tracing!.extract({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` }));
    expect(tracing!.carrierOf(span).traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    span.end();
    await tracing!.shutdown();
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.type).toBe('application/x-protobuf');
    // Protobuf carries the trace id as its 16 raw bytes, and the service name as text.
    expect(bodies[0]!.body.includes(Buffer.from(traceId, 'hex'))).toBe(true);
    expect(bodies[0]!.body.includes(Buffer.from('infergate-test'))).toBe(true);
  });
});
