import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { QueueInspector } from '@infergate/shared';
import { IngressMetrics } from '../../ingress/src/metrics.js';
import { CapacityGate } from '../../dispatcher/src/capacityGate.js';
import { DispatcherMetrics } from '../../dispatcher/src/metrics.js';

/*
 * The metric names the code registers, the table in docs/metrics.md, the
 * Grafana dashboard and the Prometheus and Grafana provisioning agree.
 */

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const docs = read('docs/metrics.md');

/** Metric names in the table rows of one `### section` of the docs. */
function documented(section: string): string[] {
  const body = docs.split(`### ${section}\n`)[1]!.split('\n### ')[0]!;
  return [...body.matchAll(/^\| `(infergate_\w+)` \|/gm)].map((m) => m[1]!).sort();
}

const ours = (names: string[]) => names.filter((n) => n.startsWith('infergate_')).sort();

describe('metric names', () => {
  it('the ingress registers exactly the documented ingress metrics', () => {
    const metrics = new IngressMetrics({
      openRequests: () => 0,
      models: () => [],
      dispatchers: () => [],
      redisConnections: () => ({}),
      knownHeads: () => new Map(),
      inspector: {} as QueueInspector,
    });
    expect(ours(metrics.registry.getMetricsAsArray().map((m) => m.name))).toEqual(documented('Ingress'));
  });

  it('the dispatcher registers exactly the documented dispatcher metrics', () => {
    const metrics = new DispatcherMetrics({
      dispatcherId: 'd',
      gate: new CapacityGate(),
      draining: () => false,
      redisConnections: () => ({}),
    });
    expect(ours(metrics.registry.getMetricsAsArray().map((m) => m.name))).toEqual(documented('Dispatcher'));
  });

  it('follow the Prometheus conventions', () => {
    for (const name of [...documented('Ingress'), ...documented('Dispatcher')]) {
      const row = docs.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))!;
      const type = row.split('|')[2]!.trim();
      expect(name.endsWith('_total'), `${name} (${type})`).toBe(type === 'counter');
      if (type === 'histogram') expect(name, name).toMatch(/_seconds$/);
    }
  });

  it('the dashboard charts only documented metrics, from the provisioned data source', () => {
    const dashboard = JSON.parse(read('infra/grafana/dashboards/infergate.json')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
      templating: { list: Array<{ name: string; current: { value: unknown } }> };
    };
    const used = new Set(
      dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/infergate_\w+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))),
    );
    const all = new Set([...documented('Ingress'), ...documented('Dispatcher')]);
    expect([...used].filter((n) => !all.has(n))).toEqual([]);
    for (const name of ['infergate_time_to_first_token_seconds', 'infergate_queue_wait_seconds', 'infergate_queue_jobs', 'infergate_engine_slots_free', 'infergate_request_errors_total']) {
      expect(used, name).toContain(name);
    }
    const datasources = parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string }> };
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource')!;
    expect(datasources.datasources.map((d) => d.uid)).toContain(variable.current.value);
  });
});

describe('scrape and provisioning files', () => {
  it('Prometheus scrapes both ingresses and both dispatchers (in their engines\' namespaces)', () => {
    const config = parse(read('infra/prometheus/prometheus.yml')) as {
      scrape_configs: Array<{ job_name: string; metrics_path: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]));
    expect(targets).toEqual({ 'infergate-ingress': ['ingress-1:8888', 'ingress-2:8888'], 'infergate-dispatcher': ['llm-1:9400', 'llm-2:9400'] });
    expect(config.scrape_configs.every((c) => c.metrics_path === '/metrics')).toBe(true);
  });

  it('Grafana loads dashboards from where Compose mounts them', () => {
    const providers = parse(read('infra/grafana/provisioning/dashboards/infergate.yml')) as { providers: Array<{ options: { path: string } }> };
    const compose = parse(read('docker-compose.yml')) as { services: { grafana: { volumes: string[] } } };
    const path = providers.providers[0]!.options.path;
    expect(compose.services.grafana.volumes.map((v) => v.replace(/:ro$/, ''))).toContain(`./infra/grafana/dashboards:${path}`);
    expect(compose.services.grafana.volumes.map((v) => v.replace(/:ro$/, ''))).toContain('./infra/grafana/provisioning:/etc/grafana/provisioning');
  });
});
