import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { knownVariables, loadConfig } from '@infergate/shared';
import { RUNTIME_ENV } from '@infergate/stack';

/*
 * What can be checked of the deployment files without a Docker engine or a
 * cluster: they parse, every variable they give an infergate process is one
 * it reads (and its configuration loads), every file they name exists, and
 * every command runs a real build output. `nginx -t` runs in nginx.test.ts.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const exists = (path: string) => existsSync(join(ROOT, path));
/** Metric names in the table of one `### section` of docs/metrics.md. */
const docs = (section: string) =>
  [...read('docs/metrics.md').split(`### ${section}\n`)[1]!.split('\n### ')[0]!.matchAll(/^\| `(infergate_\w+)` \|/gm)].map((m) => m[1]!);

type Env = Record<string, string>;
type Labels = Record<string, string>;
type Role = 'ingress' | 'dispatcher' | 'sim';

/** The parts of a Compose service these checks read. */
interface ComposeService {
  build?: { context: string; dockerfile: string; target: Role };
  environment?: Record<string, string | number>;
  profiles?: string[];
  network_mode?: string;
  volumes?: string[];
  ports?: string[];
  entrypoint?: string[];
  command?: string[];
}
type Services = Record<string, ComposeService>;

/** The parts of a Kubernetes object these checks read. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Env;
  stringData?: Env;
  resources?: string[];
  spec: {
    selector: Labels & { matchLabels: Labels };
    template: { metadata: { labels: Labels }; spec: { containers: Container[]; volumes?: Volume[] } };
    scaleTargetRef: { kind: string; name: string };
  };
}
interface Container {
  name: string;
  image: string;
  envFrom?: Array<{ configMapRef: { name: string } }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe: Probe;
  readinessProbe: Probe;
}
interface Probe {
  httpGet: { path: string; port: string };
}
interface Volume {
  secret?: { secretName: string; items: Array<{ key: string }> };
}
const ROLES: readonly Role[] = ['ingress', 'dispatcher', 'sim'];
const defaults = { ingress: loadConfig('ingress', {}), dispatcher: loadConfig('dispatcher', { ENGINE_URL: 'http://e:1' }) };

function parseYaml(path: string): unknown[] {
  return parseAllDocuments(read(path), { merge: true }).map((doc) => {
    expect(doc.errors.map(String), path).toEqual([]);
    return doc.toJS({ maxAliasCount: -1 });
  });
}

/** An infergate process's variables: all of them known, and the role's configuration loads. */
function expectValidEnvironment(role: Role, env: Env, where: string): void {
  expect(Object.keys(env).filter((name) => !knownVariables.includes(name)), where).toEqual([]);
  if (role !== 'sim') expect(() => loadConfig(role, env), where).not.toThrow();
}

// ---------------------------------------------------------------------------
// Compose
// ---------------------------------------------------------------------------

/** What `cp .env.example .env` gives Compose to interpolate with. */
const dotenv: Env = Object.fromEntries([...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
const interpolated = new Set<string>();

/** Compose's interpolation, for the forms this file uses; any other form fails the test. */
function interpolate(value: string, env: Env): string {
  return value.replace(/\$\$|\$\{([^}]*)\}/g, (match, expr: string | undefined) => {
    if (expr === undefined) return '$';
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/.exec(expr);
    if (!m) throw new Error(`unsupported interpolation ${match}`);
    interpolated.add(m[1]!);
    const set = env[m[1]!];
    return set !== undefined && set !== '' ? set : (m[2] ?? '');
  });
}

function interpolateAll(value: unknown, env: Env): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env)]));
  return value;
}

const composeFile = parseYaml('docker-compose.yml')[0];
const servicesOf = (env: Env) => (interpolateAll(composeFile, env) as { services: Services }).services;
/** The services as Compose sees them with a .env copied from .env.example, and with no .env at all. */
const variants: ReadonlyArray<[string, Services]> = [
  ['with .env.example as .env', servicesOf(dotenv)],
  ['without .env', servicesOf({})],
];
const services = variants[0]![1];
const roleOf = (service: ComposeService): Role | undefined => service.build?.target;
const envOf = (service: ComposeService): Env =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
const servicesWith = (role: Role, from = services) => Object.entries(from).filter(([, s]) => roleOf(s) === role);
const bindSources = (service: ComposeService): string[] =>
  (service.volumes ?? []).map((v) => v.split(':')[0]!).filter((src) => src.startsWith('./'));
// infra/prometheus and infra/grafana come with the observability work; until
// they exist, the monitoring profile cannot start.
const MONITORING = exists('infra/prometheus') && exists('infra/grafana');

describe('docker-compose.yml', () => {
  it.each(variants)('gives infergate containers only variables infergate reads, and each configuration loads (%s)', (_, all) => {
    for (const [name, service] of Object.entries(all)) {
      const role = roleOf(service);
      if (role) expectValidEnvironment(role, envOf(service), name);
    }
    expect(ROLES.map((role) => servicesWith(role, all).length > 0)).toEqual([true, true, true]);
  });

  it('builds each infergate service from a target of the Dockerfile', () => {
    const stages = dockerfileStages();
    for (const [name, { build }] of Object.entries(services)) {
      if (!build) continue;
      expect(exists(join(build.context, build.dockerfile)), name).toBe(true);
      expect(stages.has(build.target), name).toBe(true);
    }
  });

  it('puts every dispatcher in its own engine’s network namespace, in the engine’s profile', () => {
    const engines = new Set<string>();
    for (const [name, dispatcher] of servicesWith('dispatcher')) {
      const engine = /^service:(.+)$/.exec(dispatcher.network_mode ?? '')?.[1];
      expect(engine && services[engine], name).toBeTruthy();
      expect(dispatcher.profiles, name).toEqual(services[engine!]!.profiles);
      expect(new URL(envOf(dispatcher).ENGINE_URL!).hostname, name).toBe('127.0.0.1');
      expect(engines.has(engine!), `${engine} has two dispatchers`).toBe(false);
      engines.add(engine!);
    }
    const profiles = new Set(Object.values(services).flatMap((s) => s.profiles ?? []));
    expect([...profiles].sort()).toEqual(['llamacpp', 'monitoring', 'sim', 'vllm']);
    expect(profiles.has(dotenv.COMPOSE_PROFILES!)).toBe(true);
  });

  it('runs the simulator with options its command line accepts', async () => {
    const commands = new Set([
      ...servicesWith('sim').map(([, sim]) => JSON.stringify(sim.command)),
      instruction(dockerfileStages(), 'sim', 'CMD')!,
    ]);
    // --help exits after the options are parsed, and parsing rejects unknown ones.
    const runs = [...commands].map(async (command) => {
      const args = ['--import', 'tsx', '--conditions=development', 'infra/sim/src/main.ts', ...JSON.parse(command), '--help'];
      const failure = await run(process.execPath, args, { cwd: ROOT }).then(() => undefined, (err: Error) => err.message);
      expect(failure, command).toBeUndefined();
    });
    await Promise.all(runs);
  }, 60_000);

  it('mounts repository files that exist', () => {
    const missing = Object.values(services)
      .filter((s) => !s.profiles?.includes('monitoring'))
      .flatMap(bindSources)
      .filter((src) => src.startsWith('./infra/') && !exists(src));
    expect(missing).toEqual([]);
  });

  it.skipIf(!MONITORING)('mounts the monitoring configuration that exists', () => {
    const missing = Object.values(services)
      .filter((s) => s.profiles?.includes('monitoring'))
      .flatMap(bindSources)
      .filter((src) => !exists(src));
    expect(missing).toEqual([]);
  });

  it.each(variants)('fronts exactly the ingress services with the NGINX edge, at the ingress body limit (%s)', (_, all) => {
    const nginx = all.nginx!;
    const env = envOf(nginx);
    const mount = (target: string) => nginx.volumes!.find((v) => v.split(':')[1] === target)?.split(':')[0] ?? `nothing at ${target}`;
    const template = read(mount('/etc/nginx/templates/default.conf.template'));
    const needed = [...template.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(needed.filter((name) => env[name] === undefined)).toEqual([]);
    expect(nginx.ports).toEqual([`${dotenv.PORT}:${env.NGINX_PORT}`]);
    expect(mount(nginx.entrypoint![1]!)).toBe('./infra/nginx/edge-keys.sh');

    const upstreams = read(mount('/etc/nginx/infergate/upstream.conf')).match(/^server \S+;$/gm)!;
    const ingresses = servicesWith('ingress', all).map(([name, s]) => `server ${name}:${envOf(s).PORT};`);
    expect(upstreams.sort()).toEqual(ingresses.sort());

    const limits = servicesWith('ingress', all).map(([, s]) => envOf(s).BODY_LIMIT_BYTES);
    expect(new Set([...limits, env.BODY_LIMIT_BYTES])).toEqual(new Set([String(defaults.ingress.BODY_LIMIT_BYTES)]));
  });

  it('documents every variable it reads in .env.example, which keeps the old proxy’s keys', () => {
    expect([...interpolated].filter((name) => !(name in dotenv))).toEqual([]);
    const oldProxy = ['PORT', 'MODEL_DIR', 'MODEL', 'BACKENDS', 'METRICS_CACHE_TTL_SECONDS', 'BACKEND_TIMEOUT_SECONDS', 'MAX_ALLOWED_REQUEST_QUEUE', 'MAX_ALLOWED_DEFERRED'];
    expect(oldProxy.filter((name) => !(name in dotenv))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------

interface Stage {
  readonly lines: string[];
}

/** Stages by name, with their instructions (continuation lines joined). */
function dockerfileStages(): Map<string, Stage> {
  const instructions = read('infra/docker/Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = new Map<string, Stage>();
  let current: Stage | undefined;
  for (const line of instructions) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.set(from[2] ?? from[1]!, (current = { lines: [] }));
    current?.lines.push(line);
  }
  return stages;
}

/** The stage's instruction arguments, following its `FROM <stage>` chain back. */
function instruction(stages: Map<string, Stage>, name: string, keyword: string): string | undefined {
  const stage = stages.get(name)!;
  const own = stage.lines.findLast((l) => l.startsWith(`${keyword} `));
  if (own) return own.slice(keyword.length + 1);
  const parent = /^FROM\s+(\S+)/.exec(stage.lines[0]!)![1]!;
  return stages.has(parent) ? instruction(stages, parent, keyword) : undefined;
}

describe('infra/docker/Dockerfile', () => {
  const stages = dockerfileStages();
  const lines = [...stages.values()].flatMap((s) => s.lines);

  it('runs compiled entry points of the packages it builds', () => {
    const built = /npm run build((?:\s+-w\s+\S+)+)/.exec(lines.join('\n'))![1]!.split(/\s*-w\s+/).filter(Boolean);
    for (const role of ROLES) {
      const argv = [instruction(stages, role, 'ENTRYPOINT'), instruction(stages, role, 'CMD')].flatMap((i) => (i ? JSON.parse(i) : []));
      expect(argv[0], role).toBe('node');
      const m = /^(.+)\/dist\/(.+)\.js$/.exec(argv[1]);
      expect(m, role).toBeTruthy();
      const [, pkg, file] = m!;
      expect(exists(`${pkg}/src/${file}.ts`), `${pkg}/src/${file}.ts`).toBe(true);
      expect(JSON.parse(read(`${pkg}/tsconfig.build.json`)).compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
      expect(built, role).toContain(pkg);
    }
  });

  it('probes each service where its configuration says it listens', () => {
    const probes = {
      ingress: `\${PORT:-${defaults.ingress.PORT}}/livez`,
      dispatcher: `\${STATUS_PORT:-${defaults.dispatcher.STATUS_PORT}}/livez`,
      sim: '8080/health',
    };
    for (const role of ROLES) {
      const healthcheck = instruction(stages, role, 'HEALTHCHECK')!;
      expect(healthcheck, role).toContain('node infra/docker/healthcheck.mjs');
      expect(healthcheck, role).toContain(`http://127.0.0.1:${probes[role]}`);
    }
    expect(instruction(stages, 'sim', 'CMD')).toContain('"--port", "8080"');
  });

  it('sets the process environment that services started as plain processes get too', () => {
    const env = Object.fromEntries(
      [...stages.get('runtime')!.lines.filter((l) => l.startsWith('ENV ')).join(' ').matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]),
    );
    expect(env).toMatchObject(RUNTIME_ENV);
  });

  it('installs the production dependencies of exactly the packages it builds', () => {
    const workspaces = (flags: string) => flags.split(/\s*-w\s+/).filter(Boolean).sort();
    const built = workspaces(/npm run build((?:\s+-w\s+\S+)+)/.exec(lines.join('\n'))![1]!);
    const install = instruction(stages, 'prod-deps', 'RUN')!;
    expect(install).toContain('npm ci --omit=dev');
    expect(workspaces(/((?:\s+-w\s+\S+)+)\s*$/.exec(install)![1]!)).toEqual(built);
  });

  it('runs as a non-root user on Node 24 slim', () => {
    expect(instruction(stages, 'runtime', 'USER')).toBe('node');
    expect(stages.get('runtime')!.lines[0]).toBe('FROM ${NODE_IMAGE} AS runtime');
    expect(read('infra/docker/Dockerfile')).toMatch(/^ARG NODE_IMAGE=node:24-[\w.-]*slim$/m);
  });

  it('copies files that exist and that .dockerignore lets through', () => {
    const allowed = read('.dockerignore')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/$/, ''));
    const sources = lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const src of sources) {
      expect(exists(src), src).toBe(true);
      expect(allowed.some((a) => src.replace(/\/$/, '') === a || src.startsWith(`${a}/`)), `${src} is ignored`).toBe(true);
    }
    const workspaces: string[] = JSON.parse(read('package.json')).workspaces;
    for (const ws of workspaces) expect(sources, ws).toContain(`${ws}/package.json`);
  });
});

// ---------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------

const K8S = 'infra/k8s';
const kustomization = parseYaml(`${K8S}/kustomization.yaml`)[0] as K8sObject;
const manifests = readdirSync(join(ROOT, K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = manifests.flatMap((f) => parseYaml(`${K8S}/${f}`)) as K8sObject[];
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const matches = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A container's environment as the kubelet would build it, secrets and pod fields given sample values. */
function containerEnv(container: Container): Env {
  const env: Env = {};
  for (const from of container.envFrom ?? []) {
    const map = find('ConfigMap', from.configMapRef.name);
    expect(map, from.configMapRef.name).toBeTruthy();
    Object.assign(env, map?.data);
  }
  for (const { name, value, valueFrom } of container.env ?? []) {
    if (valueFrom?.secretKeyRef) {
      const secret = find('Secret', valueFrom.secretKeyRef.name);
      const secretValue = secret?.stringData?.[valueFrom.secretKeyRef.key];
      expect(secretValue, `${name} from Secret ${valueFrom.secretKeyRef.name}`).toBeDefined();
      env[name] = secretValue!;
    } else if (valueFrom?.fieldRef) {
      env[name] = 'pod-0';
    } else {
      env[name] = String(value);
    }
  }
  return env;
}

describe('infra/k8s', () => {
  const containers = workloads.flatMap((w) => w.spec.template.spec.containers.map((c) => ({ workload: w, c })));
  const infergate = containers.flatMap(({ workload, c }) => {
    const role = /^infergate\/(ingress|dispatcher):/.exec(c.image)?.[1] as Role | undefined;
    return role ? [{ workload, c, role, env: containerEnv(c) }] : [];
  });

  it('parses, and kustomization.yaml applies every manifest', () => {
    expect([...kustomization.resources!].sort()).toEqual([...manifests].sort());
    for (const o of objects) expect(o.apiVersion && o.kind && o.metadata?.name, JSON.stringify(o).slice(0, 80)).toBeTruthy();
  });

  it('gives infergate containers only variables infergate reads, and each configuration loads', () => {
    expect(infergate.map((x) => x.role).sort()).toEqual(['dispatcher', 'ingress']);
    for (const { workload, c, role, env } of infergate) expectValidEnvironment(role, env, `${workload.metadata.name}/${c.name}`);
  });

  it('probes /livez and /readyz where each infergate process listens', () => {
    for (const { c, role, env } of infergate) {
      const port = role === 'ingress' ? loadConfig('ingress', env).PORT : loadConfig('dispatcher', env).STATUS_PORT;
      const portOf = (probe: Probe) => c.ports?.find((p) => p.name === probe.httpGet.port)?.containerPort;
      expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path], c.name).toEqual(['/livez', '/readyz']);
      expect([portOf(c.livenessProbe), portOf(c.readinessProbe)], c.name).toEqual([port, port]);
    }
  });

  it('runs each dispatcher beside the engine it feeds', () => {
    for (const { workload, c, env } of infergate.filter((x) => x.role === 'dispatcher')) {
      const engineUrl = new URL(env.ENGINE_URL!);
      expect(engineUrl.hostname).toBe('127.0.0.1');
      const siblings = workload.spec.template.spec.containers.filter((s) => s !== c);
      expect(siblings.some((s) => s.ports?.some((p) => p.containerPort === Number(engineUrl.port)))).toBe(true);
    }
  });

  it('refers only to objects and keys that exist', () => {
    for (const w of workloads) {
      const labels = w.spec.template.metadata.labels;
      expect(matches(w.spec.selector.matchLabels, labels), w.metadata.name).toBe(true);
      for (const v of w.spec.template.spec.volumes ?? []) {
        if (v.secret) for (const item of v.secret.items) expect(find('Secret', v.secret.secretName)?.stringData).toHaveProperty(item.key);
      }
    }
    for (const o of objects) {
      const selector = o.kind === 'Service' ? o.spec.selector : o.kind === 'PodDisruptionBudget' ? o.spec.selector.matchLabels : undefined;
      if (selector) expect(workloads.some((w) => matches(selector, w.spec.template.metadata.labels)), o.metadata.name).toBe(true);
      if (o.kind === 'HorizontalPodAutoscaler') expect(find(o.spec.scaleTargetRef.kind, o.spec.scaleTargetRef.name)).toBeTruthy();
    }
    for (const { workload, c } of containers) {
      for (const from of c.envFrom ?? []) expect(find('ConfigMap', from.configMapRef.name), `${workload.metadata.name}/${c.name}`).toBeTruthy();
    }
  });
});

describe('infra/k8s/autoscaling', () => {
  const overlay = parseYaml(`${K8S}/autoscaling/kustomization.yaml`)[0] as K8sObject;
  const [scaled] = parseYaml(`${K8S}/autoscaling/scaledobject.yaml`) as Array<{
    kind: string;
    spec: {
      scaleTargetRef: { kind: string; name: string };
      minReplicaCount: number;
      triggers: Array<{ type: string; name: string; metricType: string; metadata: { query: string; threshold: string; activationThreshold?: string } }>;
    };
  }>;

  it('adds a KEDA ScaledObject to the base, scaling the engine StatefulSet', () => {
    expect(overlay.resources).toEqual(['..', 'scaledobject.yaml']);
    expect(scaled!.kind).toBe('ScaledObject');
    const target = find(scaled!.spec.scaleTargetRef.kind, scaled!.spec.scaleTargetRef.name);
    expect(target?.spec.template.spec.containers.some((c) => c.image.startsWith('infergate/dispatcher:'))).toBe(true);
  });

  it('scales on documented ingress metrics only, and can leave zero because queued requests wake it', () => {
    const ingressMetrics = docs('Ingress');
    const used = scaled!.spec.triggers.flatMap((t) => [...t.metadata.query.matchAll(/infergate_\w+/g)].map((m) => m[0]));
    expect(used.filter((n) => !ingressMetrics.includes(n))).toEqual([]);
    expect(used).toContain('infergate_pool_saturation');
    expect(scaled!.spec.minReplicaCount).toBe(0);
    const queued = scaled!.spec.triggers.find((t) => t.metadata.query.includes('infergate_queue_jobs'));
    expect(queued?.metadata.activationThreshold).toBe('0');
    for (const t of scaled!.spec.triggers) expect(Number(t.metadata.threshold), t.name).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------
// infra/README.md
// ---------------------------------------------------------------------------

describe('infra/README.md', () => {
  const readme = read('infra/README.md');

  it('names profiles, services and files that exist', () => {
    const profiles = new Set(Object.values(services).flatMap((s) => s.profiles ?? []));
    for (const [, p] of readme.matchAll(/--profile (\S+)/g)) expect(profiles.has(p!), `profile ${p}`).toBe(true);
    for (const [, s] of readme.matchAll(/docker compose (?:logs|restart|exec)(?: -\w+)* ([a-z][\w-]*)/g)) {
      expect(services[s!], `service ${s}`).toBeTruthy();
    }
    for (const [, path] of readme.matchAll(/`((?:infra|tests)\/[\w./-]+)`/g)) {
      if (MONITORING || !/^infra\/(prometheus|grafana)\b/.test(path!)) expect(exists(path!), path).toBe(true);
    }
  });
});
