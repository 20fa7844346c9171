/**
 * The Helm chart (docs/deployment.md; helm/ropc-gateway): every scenario under ci/ passes `helm lint
 * --strict`, renders with `helm template`, validates against the Kubernetes schemas (unknown
 * fields included), and renders a gateway.yaml that the real configuration loader accepts in
 * production mode, with every …File key on a mounted volume — so chart and schema cannot drift.
 * Also: hardening, sidecar wiring, `fail` guards, values.schema.json (whose `config` part is
 * generated from src/config), the values documentation, the `ropc-gateway.container` template
 * included from another chart, and the `helm test` script run against a real gateway.
 *
 * Helm comes from scripts/get-helm.mjs (the npm registry); if it cannot be had the tests fail.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { schema as configSchema } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { CLIENT, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { helmConfigSchema } from '../../src/config/generated-files.js';
import { CHART, find, helm, helmBinary, template, templateError } from './helm.js';
import { validateManifest, type Manifest } from './k8s-schema.js';

interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: string[];
  readonly command?: string[];
  readonly ports?: { name: string; containerPort: number }[];
  readonly env?: { name: string; value?: string }[];
  readonly securityContext?: Record<string, unknown>;
  readonly volumeMounts?: VolumeMount[];
  readonly livenessProbe?: { httpGet?: { path: string; port: string } };
  readonly readinessProbe?: { httpGet?: { path: string; port: string } };
  readonly startupProbe?: { httpGet?: { path: string; port: string } };
  readonly lifecycle?: { preStop?: { exec?: { command: string[] } } };
  readonly resources?: Record<string, unknown>;
}
interface Volume {
  readonly name: string;
  readonly configMap?: { name: string };
  readonly secret?: { secretName: string };
  readonly emptyDir?: Record<string, unknown>;
}
interface PodSpec {
  readonly containers: Container[];
  readonly volumes?: Volume[];
  readonly securityContext?: Record<string, unknown>;
  readonly terminationGracePeriodSeconds?: number;
  readonly automountServiceAccountToken?: boolean;
}
interface Deployment extends Manifest {
  readonly spec: {
    replicas?: number;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
interface Service extends Manifest {
  readonly spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}
interface ConfigMap extends Manifest {
  readonly data: Record<string, string>;
}
interface Secret extends Manifest {
  readonly stringData: Record<string, string>;
}
interface NetworkPolicy extends Manifest {
  readonly spec: { ingress: { ports: { port: string | number }[] }[] };
}

const FULLNAME = 'rel-ropc-gateway';
const scratch = mkdtempSync(join(tmpdir(), 'ropc-chart-test-'));

/** The complete examples of the chart's README (code blocks starting `# values-NAME.yaml`), as files. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  const files: string[] = [];
  for (const [, name, body] of readme.matchAll(/```yaml\n# (values-[\w-]+\.yaml)\n([\s\S]*?)```/g)) {
    const file = join(scratch, `readme-${name!}`);
    writeFileSync(file, body!);
    files.push(file);
  }
  return files;
}

/** Each scenario of ci/ and each README example, by the name shown and the values file. */
const SCENARIOS: [string, string][] = [
  ...readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f): [string, string] => [`ci/${f}`, join(CHART, 'ci', f)]),
  ...readmeExamples().map((file): [string, string] => [`README.md ${file.replace(/.*readme-/, '')}`, file]),
];

beforeAll(() => {
  helmBinary();
}, 300_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const gatewayContainer = (d: Deployment): Container => d.spec.template.spec.containers.find((c) => c.name === 'ropc-gateway')!;

/**
 * Lays out the files the gateway container would see — the ConfigMap at /etc/ropc-gateway, the
 * chart's Secret at its mount path, a placeholder for files of Secrets the chart does not know
 * (existingSecret, extraVolumes) — under a temp root, points every …File key of the rendered
 * gateway.yaml there, and loads it with the real loader in production mode. Fails when a …File
 * key names a path on no mounted volume, or a key the chart's Secret does not have.
 */
function loadRenderedConfig(manifests: readonly Manifest[], scenario: string): GatewayConfig {
  const configMap = find<ConfigMap>(manifests, 'ConfigMap', FULLNAME);
  const secret = manifests.find((m) => m.kind === 'Secret' && m.metadata?.name === FULLNAME) as Secret | undefined;
  const deployment = manifests.find((m) => m.kind === 'Deployment') as Deployment | undefined;
  type Source = Readonly<Record<string, string>> | 'unknown';
  let mounts: { path: string; source: Source }[];
  if (deployment) {
    const pod = deployment.spec.template.spec;
    mounts = (gatewayContainer(deployment).volumeMounts ?? []).flatMap((mount): { path: string; source: Source }[] => {
      const volume = pod.volumes?.find((v) => v.name === mount.name);
      if (volume?.configMap?.name === FULLNAME) return [{ path: mount.mountPath, source: configMap.data }];
      if (volume?.secret?.secretName === FULLNAME && secret) return [{ path: mount.mountPath, source: secret.stringData }];
      if (volume?.secret || volume?.configMap) return [{ path: mount.mountPath, source: 'unknown' }];
      return [];
    });
  } else {
    // Configuration only: the mounts the ropc-gateway.container template makes.
    mounts = [{ path: '/etc/ropc-gateway', source: configMap.data }, ...(secret ? [{ path: '/secrets', source: secret.stringData }] : [])];
  }

  const root = mkdtempSync(join(scratch, `${scenario}-`));
  const configDir = join(root, 'etc/ropc-gateway');
  mkdirSync(configDir, { recursive: true });
  for (const [name, content] of Object.entries(configMap.data)) writeFileSync(join(configDir, name), content);
  const config = parseYaml(configMap.data['gateway.yaml']!) as Record<string, unknown>;

  const place = (value: string, where: string): string => {
    const inPod = isAbsolute(value) ? value : join('/etc/ropc-gateway', value);
    const mount = mounts.filter((m) => inPod.startsWith(`${m.path}/`)).sort((a, b) => b.path.length - a.path.length)[0];
    if (!mount) throw new Error(`${scenario}: ${where} = ${value}: not on any volume mounted in the gateway container`);
    const key = relative(mount.path, inPod);
    let content = 'placeholder-secret-from-a-secret-the-chart-does-not-render\n';
    if (mount.source !== 'unknown') {
      const known = mount.source[key];
      if (known === undefined) throw new Error(`${scenario}: ${where} = ${value}: the mounted ${mount.path} has no key ${key}`);
      content = known;
    }
    const local = join(root, inPod);
    mkdirSync(dirname(local), { recursive: true });
    writeFileSync(local, content);
    return local;
  };
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, `${where}[${i}]`);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const object = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(object)) {
      const path = where ? `${where}.${key}` : key;
      const isFileKey = key.endsWith('File') || (key === 'path' && object['type'] === 'file');
      if (isFileKey && typeof value === 'string' && value !== '') object[key] = place(value, path);
      else walk(value, path);
    }
  };
  walk(config, '');
  const file = join(configDir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return loadConfig({ mode: 'production', file, env: {} });
}

describe.each(SCENARIOS)('chart scenario %s', (scenario, valuesFile) => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = template(['-f', valuesFile]);
  });

  it('passes helm lint --strict', () => {
    const result = helm(['lint', '.', '--strict', '-f', valuesFile]);
    expect(result.stderr + result.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.status).toBe(0);
  });

  it('renders manifests that the Kubernetes schemas accept, with no unknown field', async () => {
    expect(manifests.length).toBeGreaterThan(1);
    const problems = (await Promise.all(manifests.map(validateManifest))).flat();
    expect(problems).toEqual([]);
  });

  it('renders a gateway.yaml that the gateway loads in production mode', () => {
    const config = loadRenderedConfig(manifests, scenario.replace(/\W+/g, '-'));
    expect(config.mode).toBe('production');
    expect(['redis', 'memory']).toContain(config.store.type);
    expect(config.upstream.url).not.toBe('');
  });

  it('hardens the pod: non-root, read-only root, no capabilities, probes on the admin port, drain', () => {
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Deployment | undefined;
    if (!deployment) {
      // Configuration only (the umbrella test below checks the pod another chart builds).
      expect(scenario).toBe('ci/config-only-values.yaml');
      expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Secret', 'ServiceAccount']);
      return;
    }
    const pod = deployment.spec.template.spec;
    const gw = gatewayContainer(deployment);
    const config = parseYaml(find<ConfigMap>(manifests, 'ConfigMap', FULLNAME).data['gateway.yaml']!) as {
      admin?: { port?: number };
      server?: { port?: number; drainSeconds?: number; shutdownTimeoutSeconds?: number };
    };
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(gw.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(gw.args).toEqual(['start', '--config', '/etc/ropc-gateway/gateway.yaml']);
    expect(gw.ports).toEqual([
      { name: 'http', containerPort: config.server?.port ?? 9031, protocol: 'TCP' },
      { name: 'admin', containerPort: config.admin?.port ?? 9091, protocol: 'TCP' },
    ]);
    expect(gw.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(gw.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(gw.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(gw.resources).toBeDefined();
    // preStop sleep, then the gateway's own drain, all inside the grace period.
    const sleepMs = Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(gw.lifecycle?.preStop?.exec?.command.join(' ') ?? '')?.[1]);
    expect(sleepMs).toBeGreaterThan(0);
    const drain = config.server?.drainSeconds ?? (configSchema.server.drainSeconds.default as number);
    const shutdown = config.server?.shutdownTimeoutSeconds ?? 20;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleepMs / 1000 + drain + shutdown);
    // The only writable place is a small tmpfs at /tmp.
    const tmp = pod.volumes?.find((v) => v.name === 'ropc-gateway-tmp');
    expect(tmp?.emptyDir).toMatchObject({ medium: 'Memory' });
    expect(gw.volumeMounts?.filter((m) => !m.readOnly).map((m) => m.mountPath)).toEqual(['/tmp']);
    const annotations = deployment.spec.template.metadata.annotations ?? {};
    expect(annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    const chartSecret = manifests.some((m) => m.kind === 'Secret');
    expect(annotations['checksum/secret'] !== undefined).toBe(chartSecret);
    // The client Service reaches the public listener only; the admin port has a Service of its own.
    const service = find<Service>(manifests, 'Service', FULLNAME);
    expect(service.spec.ports.map((p) => p.targetPort)).toEqual(['http']);
    expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'ropc-gateway', 'app.kubernetes.io/instance': 'rel' });
    const metrics = manifests.find((m) => m.kind === 'Service' && m.metadata?.name === `${FULLNAME}-metrics`) as Service | undefined;
    if (metrics) {
      expect(metrics.spec.ports.map((p) => p.targetPort)).toEqual(['admin']);
      expect(metrics.spec.selector).toEqual(service.spec.selector);
    }
    // The helm test pod is not selected by the Service (it would become an endpoint).
    const testPod = manifests.find((m) => m.kind === 'Pod') as { metadata: { labels: Record<string, string> } } | undefined;
    if (testPod) expect(Object.entries(service.spec.selector).every(([k, v]) => testPod.metadata.labels[k] === v)).toBe(false);
  });
});

describe('the Kubernetes schema check itself', () => {
  const deployment = (container: Record<string, unknown>): Manifest => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', labels: { a: 'b' } },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i', ...container }] } },
    },
  });

  it('accepts a valid manifest, free-form maps included', async () => {
    expect(
      await validateManifest(deployment({ securityContext: { readOnlyRootFilesystem: true }, resources: { limits: { memory: '1Gi' } } })),
    ).toEqual([]);
  });

  it('reports a wrong type, a misspelt field and an unknown kind', async () => {
    expect(await validateManifest(deployment({ ports: [{ containerPort: 'http' }] }))).toEqual([
      'Deployment/d: /spec/template/spec/containers/0/ports/0/containerPort: must be integer',
    ]);
    expect(await validateManifest(deployment({ securityContext: { readOnlyRootFileSystem: true } }))).toEqual([
      'Deployment/d: /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem: unknown field',
    ]);
    expect(await validateManifest({ apiVersion: 'apps/v1', kind: 'Deploymint', metadata: { name: 'x' } })).toEqual([
      'Deploymint/x: no schema for apps/v1 Deploymint',
    ]);
  });
});

describe('sidecar mode', () => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = template(['-f', 'ci/sidecar-ldap-values.yaml']);
  });

  it('runs the app and the gateway in one pod, the gateway proxying to 127.0.0.1:<app.port>', () => {
    const deployment = find<Deployment>(manifests, 'Deployment');
    expect(deployment.spec.template.spec.containers.map((c) => c.name)).toEqual(['ropc-gateway', 'legacy-app']);
    const app = deployment.spec.template.spec.containers[1]!;
    expect(app.image).toBe('registry.example.org/legacy/timesheets:4.2.1');
    expect(app.ports).toEqual([{ name: 'app', containerPort: 8080, protocol: 'TCP' }]);
    const config = loadRenderedConfig(manifests, 'sidecar');
    expect(config.upstream.url).toBe('http://127.0.0.1:8080');
  });

  it('exposes only the gateway: Service and NetworkPolicy never admit the app port', () => {
    const service = find<Service>(manifests, 'Service');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const policy = find<NetworkPolicy>(manifests, 'NetworkPolicy');
    // adminFrom is empty: no rule admits any pod to the admin port (the kubelet's probes come from the node).
    expect(policy.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual(['http']);
  });

  it('follows app.port', () => {
    const rendered = template(['-f', 'ci/sidecar-ldap-values.yaml', '--set', 'app.port=3000']);
    expect(find<ConfigMap>(rendered, 'ConfigMap').data['gateway.yaml']).toContain('url: http://127.0.0.1:3000');
  });
});

describe('the admin port and metrics', () => {
  const minimal = ['--set', 'config.store.type=memory', '--set', 'replicaCount=1', '--set', 'config.upstream.url=http://app:8080'];
  const monitoring = ['--set', 'networkPolicy.adminFrom[0].namespaceSelector.matchLabels.team=monitoring'];

  it('gives metrics a Service of their own, which the ServiceMonitor alone selects', () => {
    const manifests = template([...minimal, ...monitoring, '--set', 'serviceMonitor.enabled=true']);
    const services = manifests.filter((m) => m.kind === 'Service') as Service[];
    expect(services.map((s) => [s.metadata?.name, s.spec.ports.map((p) => p.targetPort)])).toEqual([
      [FULLNAME, ['http']],
      [`${FULLNAME}-metrics`, ['admin']],
    ]);
    const monitor = find<Manifest & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } }>(
      manifests,
      'ServiceMonitor',
    );
    const selected = services.filter((s) =>
      Object.entries(monitor.spec.selector.matchLabels).every(
        ([k, v]) => (s.metadata?.labels as Record<string, string> | undefined)?.[k] === v,
      ),
    );
    expect(selected.map((s) => s.metadata?.name)).toEqual([`${FULLNAME}-metrics`]);
    expect(monitor.spec.endpoints.map((e) => e.port)).toEqual(['admin']);
  });

  it('admits no pod to the admin port unless networkPolicy.adminFrom lists it', () => {
    type Rule = { ports: { port: string | number }[]; from?: unknown[] };
    const rules = (args: string[]): Rule[] =>
      find<Manifest & { spec: { ingress: Rule[] } }>(template([...minimal, ...args]), 'NetworkPolicy').spec.ingress;
    expect(rules([]).filter((r) => r.ports.some((p) => p.port === 'admin'))).toEqual([]);
    expect(rules(monitoring).filter((r) => r.ports.some((p) => p.port === 'admin'))).toEqual([
      { ports: [{ port: 'admin', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } } }] },
    ]);
    expect(templateError([...minimal, '--set', 'serviceMonitor.enabled=true'])).toMatch(
      /networkPolicy\.adminFrom: the NetworkPolicy admits no pod to the admin port/,
    );
    // Without a NetworkPolicy there is nothing to admit through.
    expect(
      template([...minimal, '--set', 'serviceMonitor.enabled=true', '--set', 'networkPolicy.enabled=false']).some(
        (m) => m.kind === 'ServiceMonitor',
      ),
    ).toBe(true);
  });
});

describe('fail guards', () => {
  const minimal = ['--set', 'config.store.type=memory', '--set', 'replicaCount=1', '--set', 'config.upstream.url=http://app:8080'];
  it.each([
    ['no store type', ['--set', 'config.upstream.url=http://app:8080'], /config\.store\.type: set redis .* or memory/],
    [
      'redis without an address',
      ['--set', 'config.store.type=redis', '--set', 'config.upstream.url=http://app:8080'],
      /config\.store\.redis: set url, sentinels .* or cluster/,
    ],
    [
      'the memory store on several pods',
      ['--set', 'config.store.type=memory', '--set', 'config.upstream.url=http://app:8080'],
      /memory keeps tokens in one process/,
    ],
    ['the memory store with autoscaling', [...minimal, '--set', 'autoscaling.enabled=true'], /memory keeps tokens in one process/],
    [
      'standalone without an upstream',
      ['--set', 'config.store.type=memory', '--set', 'replicaCount=1'],
      /config\.upstream\.url: required in standalone mode/,
    ],
    [
      'an upstream in sidecar mode',
      [...minimal, '--set', 'sidecar.enabled=true', '--set', 'app.image.repository=app'],
      /leave it empty in sidecar mode/,
    ],
    [
      'sidecar mode without an app image',
      ['--set', 'config.store.type=memory', '--set', 'replicaCount=1', '--set', 'sidecar.enabled=true'],
      /app\.image\.repository: sidecar mode needs/,
    ],
    [
      'the app on the gateway port',
      [
        '--set',
        'config.store.type=memory',
        '--set',
        'replicaCount=1',
        '--set',
        'sidecar.enabled=true',
        '--set',
        'app.image.repository=app',
        '--set',
        'app.port=9091',
      ],
      /app\.port 9091: the gateway listens there/,
    ],
    [
      'a loopback listener',
      [...minimal, '--set', 'config.admin.host=127.0.0.1'],
      /config\.admin\.host 127\.0\.0\.1: the Service and the probes reach the pod's IP/,
    ],
    [
      'the admin listener left at its loopback default',
      [...minimal, '--set', 'config.admin.host=null'],
      /config\.admin\.host 127\.0\.0\.1: the Service and the probes reach the pod's IP/,
    ],
    [
      'a grace period shorter than the drain',
      [...minimal, '--set', 'terminationGracePeriodSeconds=20'],
      /terminationGracePeriodSeconds 20: must exceed preStopSleepSeconds 5 \+ config\.server\.drainSeconds 5 \+ config\.server\.shutdownTimeoutSeconds 20/,
    ],
    [
      'existingSecret and data',
      [...minimal, '--set', 'secrets.existingSecret=s', '--set', 'secrets.data.a=b'],
      /secrets: set existingSecret or data, not both/,
    ],
    [
      'both PDB bounds',
      [...minimal, '--set', 'podDisruptionBudget.minAvailable=1'],
      /podDisruptionBudget: set minAvailable or maxUnavailable, not both/,
    ],
    ['helm test without credentials', [...minimal, '--set', 'tests.enabled=true'], /tests: set clientId, username and passwordKey/],
  ])('refuses %s', (_, args, message) => {
    expect(templateError(args)).toMatch(message);
  });

  it('renders the minimal valid combination', () => {
    expect(find<Deployment>(template(minimal), 'Deployment').spec.replicas).toBe(1);
  });
});

describe('values.schema.json', () => {
  const schemaFile = join(CHART, 'values.schema.json');

  it('holds the configuration schema generated from src/config (`npm run generate` rewrites it)', () => {
    const values = JSON.parse(readFileSync(schemaFile, 'utf8')) as { properties: Record<string, unknown> };
    expect(values.properties['config'], 'values.schema.json is stale: run npm run generate').toEqual(helmConfigSchema());
  });

  it.each([
    ['a count as text', ['--set', 'replicaCount=two'], /replicaCount/],
    ['an unknown top-level value', ['--set', 'replicas=2'], /replicas/],
    ['a port as text', ['--set', 'config.server.port=http'], /config\/server\/port|server.*port/],
    ['an unknown configuration key', ['--set', 'config.store.redis.hostname=redis'], /hostname/],
    ['an unknown key in a list item', ['--set-json', 'config.clients=[{"id":"a","public":true,"scope":["x"]}]'], /scope/],
    ['a wrong validator type', ['--set-json', 'config.validators=[{"name":"d","type":"kerberos"}]'], /kerberos|type/],
    [
      'an LDAP validator field of the wrong type',
      ['--set-json', 'config.validators=[{"name":"d","type":"ldap","urls":"ldap://x"}]'],
      /urls/,
    ],
    ['a wrong service type', ['--set', 'service.type=Ingress'], /service\/type|service.*type/],
  ])('rejects %s', (_, args, message) => {
    const error = templateError([
      '--set',
      'config.store.type=memory',
      '--set',
      'config.upstream.url=http://app',
      '--set',
      'replicaCount=1',
      ...args,
    ]);
    expect(error).toMatch(/values don't meet the specifications of the schema|schema/i);
    expect(error).toMatch(message);
  });
});

describe('values documentation', () => {
  /** Dotted paths of values.yaml keys with whether a `# --` comment documents them. */
  function valueKeys(): { path: string; documented: boolean; leaf: boolean }[] {
    const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
    const stack: { indent: number; path: string; documented: boolean }[] = [];
    const out: { path: string; documented: boolean; leaf: boolean }[] = [];
    let comment = false;
    for (const line of lines) {
      if (/^\s*# --/.test(line)) {
        comment = true;
        continue;
      }
      const m = /^(\s*)([A-Za-z][\w.-]*):(.*)$/.exec(line);
      if (!m) {
        if (!/^\s*#/.test(line)) comment = false;
        continue;
      }
      const indent = m[1]!.length;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const parent = stack[stack.length - 1];
      // Inside a documented value (e.g. the content of `config` or `securityContext`): its own keys.
      if (parent?.documented) {
        comment = false;
        stack.push({ indent, path: `${parent.path}.${m[2]}`, documented: true });
        continue;
      }
      const path = parent ? `${parent.path}.${m[2]}` : m[2]!;
      out.push({ path, documented: comment, leaf: m[3]!.trim() !== '' });
      stack.push({ indent, path, documented: comment });
      comment = false;
    }
    return out;
  }

  it('has its two complete examples checked like the ci/ scenarios', () => {
    expect(SCENARIOS.map(([name]) => name).filter((name) => name.startsWith('README.md'))).toEqual([
      'README.md values-timesheets.yaml',
      'README.md values-login.yaml',
    ]);
  });

  it('documents every value with a `# --` comment', () => {
    expect(
      valueKeys()
        .filter((k) => k.leaf && !k.documented)
        .map((k) => k.path),
    ).toEqual([]);
  });

  it('lists every documented value in the README table', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const missing = valueKeys()
      .filter((k) => k.documented)
      .map((k) => k.path)
      .filter((path) => !readme.includes(`| \`${path}\` |`));
    expect(missing).toEqual([]);
  });
});

describe('the ropc-gateway.container template, included by another chart', () => {
  it('adds the gateway, its configuration and secrets to the pods of an app chart', async () => {
    const dir = mkdtempSync(join(scratch, 'umbrella-'));
    const app = join(dir, 'legacy-app');
    mkdirSync(join(app, 'templates'), { recursive: true });
    writeFileSync(
      join(app, 'Chart.yaml'),
      stringify({
        apiVersion: 'v2',
        name: 'legacy-app',
        version: '1.0.0',
        dependencies: [{ name: 'ropc-gateway', version: '0.1.0', repository: `file://${CHART}` }],
      }),
    );
    writeFileSync(
      join(app, 'values.yaml'),
      stringify({
        'ropc-gateway': {
          deployment: { enabled: false },
          config: {
            store: { type: 'redis', redis: { url: 'redis://redis:6379/0' } },
            upstream: { url: 'http://127.0.0.1:3000' },
            clients: [{ id: 'portal', secretFile: '/secrets/client-portal', scopes: ['portal'] }],
            validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
          },
          files: { 'users.yaml': 'users: []\n' },
          secrets: { data: { 'client-portal': 'portal-secret' } },
        },
      }),
    );
    writeFileSync(
      join(app, 'templates', 'deployment.yaml'),
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy-app
spec:
  selector:
    matchLabels: { app: legacy-app }
  template:
    metadata:
      labels: { app: legacy-app }
      annotations:
        {{- include "ropc-gateway.checksums" (index .Subcharts "ropc-gateway") | nindent 8 }}
    spec:
      securityContext: { fsGroup: 65532 }
      containers:
        - name: app
          image: legacy/portal:1.0
          ports: [{ name: app, containerPort: 3000 }]
        {{- include "ropc-gateway.container" (index .Subcharts "ropc-gateway") | nindent 8 }}
      volumes:
        {{- include "ropc-gateway.volumes" (index .Subcharts "ropc-gateway") | nindent 8 }}
`,
    );
    const build = helm(['dependency', 'build', app], dir);
    expect(build.status, build.stderr).toBe(0);
    const manifests = template([], app);
    expect((await Promise.all(manifests.map(validateManifest))).flat()).toEqual([]);
    const deployment = find<Deployment>(manifests, 'Deployment', 'legacy-app');
    const pod = deployment.spec.template.spec;
    expect(pod.containers.map((c) => c.name)).toEqual(['app', 'ropc-gateway']);
    expect(deployment.spec.template.metadata.annotations?.['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    // The volumes name the ConfigMap and Secret the subchart rendered.
    const configMap = find<ConfigMap>(manifests, 'ConfigMap');
    const secret = find<Secret>(manifests, 'Secret');
    expect(pod.volumes?.find((v) => v.name === 'ropc-gateway-config')?.configMap?.name).toBe(configMap.metadata?.name);
    expect(pod.volumes?.find((v) => v.name === 'ropc-gateway-secrets')?.secret?.secretName).toBe(secret.metadata?.name);
    expect(manifests.filter((m) => m.kind === 'Deployment')).toHaveLength(1);
    expect(loadRenderedConfig(manifests, 'umbrella').clients[0]?.secret).toBe('portal-secret');
  });
});

describe('the helm test script (files/token-roundtrip.js)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let secrets: string;
  const script = readFileSync(join(CHART, 'files/token-roundtrip.js'), 'utf8');

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    gw = await startGateway({ upstream: upstream.url });
    secrets = mkdtempSync(join(scratch, 'test-secrets-'));
    writeFileSync(join(secrets, 'client'), `${CLIENT.secret}\n`);
    writeFileSync(join(secrets, 'password'), `${USERS.alice.password}\n`);
    writeFileSync(join(secrets, 'wrong'), 'not-the-password\n');
  });
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const run = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['-e', script], {
      env: {
        GATEWAY_URL: gw.url,
        TOKEN_PATH: '/as/token.oauth2',
        TEST_CLIENT_ID: CLIENT.id,
        TEST_CLIENT_SECRET_FILE: join(secrets, 'client'),
        TEST_USERNAME: 'alice',
        TEST_PASSWORD_FILE: join(secrets, 'password'),
        TEST_SCOPE: 'read',
        TEST_PATH: '/api/hello',
        TEST_EXPECT_STATUS: '200',
        ...env,
      },
    });

  it('passes against a working gateway: token, 401 without it, 200 with it', async () => {
    const { stdout, stderr } = await run({});
    expect(stderr).toBe('');
    expect(stdout).toContain('token endpoint: 200, token_type Bearer');
    expect(stdout).toContain('without a token: 401');
    expect(stdout).toContain('ropc-gateway helm test passed');
  });

  it('fails with the OAuth error, and prints no secret, when the login fails', async () => {
    const failure = await run({ TEST_PASSWORD_FILE: join(secrets, 'wrong') }).then(
      () => null,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/helm test failed: POST .*: 400 .*invalid_grant/);
    expect(`${failure?.stdout}${failure?.stderr}`).not.toContain(CLIENT.secret);
    expect(`${failure?.stdout}${failure?.stderr}`).not.toContain('not-the-password');
  });
});
