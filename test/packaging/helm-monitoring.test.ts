/**
 * The chart's Grafana dashboard ConfigMap and PrometheusRule (grafanaDashboard.*,
 * prometheusRule.*): off by default; on, they pass `helm lint --strict`, validate against the
 * Kubernetes and prometheus-operator schemas, and carry exactly the files the other tests check
 * (files/dashboards/ropc-gateway.json, queried through a real Prometheus in
 * test/integration/dashboard-prometheus.test.ts; files/alerts/rules.yaml, unit-tested with
 * promtool in alert-rules.test.ts), so what is tested is what ships.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHART, find, helm, helmBinary, template, templateError } from './helm.js';
import { validateManifest, type Manifest } from './k8s-schema.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}
interface PrometheusRule extends Manifest {
  readonly metadata: { name: string; labels: Record<string, string> };
  readonly spec: { groups: RuleGroup[] };
}
interface ConfigMap extends Manifest {
  readonly metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations?: Record<string, string> };
  readonly data: Record<string, string>;
}

const minimal = ['--set', 'config.store.type=memory', '--set', 'replicaCount=1', '--set', 'config.upstream.url=http://app:8080'];
const on = [...minimal, '--set', 'grafanaDashboard.enabled=true', '--set', 'prometheusRule.enabled=true'];
const rulesFile = parse(readFileSync(join(CHART, 'files/alerts/rules.yaml'), 'utf8')) as { groups: RuleGroup[] };
const dashboardFile = readFileSync(join(CHART, 'files/dashboards/ropc-gateway.json'), 'utf8');
const alertNames = rulesFile.groups.flatMap((g) => g.rules.map((r) => r.alert));

beforeAll(() => {
  helmBinary();
}, 300_000);

describe('monitoring resources of the chart', () => {
  it('renders neither by default', () => {
    const kinds = template(minimal).map((m) => `${m.kind}/${m.metadata?.name}`);
    expect(kinds.filter((k) => k.startsWith('PrometheusRule/') || k.endsWith('-dashboard'))).toEqual([]);
  });

  it('passes helm lint --strict and the schemas with both on', async () => {
    const lint = helm(['lint', '.', '--strict', ...on]);
    expect(lint.stderr + lint.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const manifests = template(on);
    expect(manifests.filter((m) => m.kind === 'PrometheusRule')).toHaveLength(1);
    expect((await Promise.all(manifests.map(validateManifest))).flat()).toEqual([]);
  });

  it('embeds files/alerts/rules.yaml unchanged in the PrometheusRule', () => {
    const rule = find<PrometheusRule>(template(on), 'PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.name).toBe('rel-ropc-gateway');
    expect(rule.spec.groups).toEqual(rulesFile.groups);
  });

  it('adds prometheusRule.labels to the resource and alertLabels to every alert, the alert’s own severity winning', () => {
    const rule = find<PrometheusRule>(
      template([
        ...on,
        '--set',
        'prometheusRule.labels.release=prometheus',
        '--set',
        'prometheusRule.alertLabels.team=identity',
        '--set',
        'prometheusRule.alertLabels.severity=info',
      ]),
      'PrometheusRule',
    );
    expect(rule.metadata.labels).toMatchObject({ release: 'prometheus', 'app.kubernetes.io/instance': 'rel' });
    const rendered = rule.spec.groups.flatMap((g) => g.rules);
    expect(rendered.map((r) => r.alert)).toEqual(alertNames);
    for (const [i, r] of rendered.entries()) {
      const source = rulesFile.groups.flatMap((g) => g.rules)[i]!;
      expect(r.labels).toEqual({ team: 'identity', ...source.labels });
      expect({ ...r, labels: source.labels }).toEqual(source);
    }
  });

  it('leaves out prometheusRule.disabledAlerts, and refuses a name that is no alert', () => {
    const rule = find<PrometheusRule>(
      template([...on, '--set', 'prometheusRule.disabledAlerts[0]=RopcGatewayLockoutsSpike']),
      'PrometheusRule',
    );
    expect(rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(
      alertNames.filter((n) => n !== 'RopcGatewayLockoutsSpike'),
    );
    expect(templateError([...on, '--set', 'prometheusRule.disabledAlerts[0]=RopcGatewayLockoutSpike'])).toMatch(
      /prometheusRule\.disabledAlerts: RopcGatewayLockoutSpike is no alert of this chart \(RopcGatewayValidatorDown, /,
    );
  });

  it('renders the dashboard file in a ConfigMap with the sidecar label', () => {
    const map = find<ConfigMap>(template(on), 'ConfigMap', 'rel-ropc-gateway-dashboard');
    expect(map.metadata.labels['grafana_dashboard']).toBe('1');
    expect(map.metadata.namespace).toBeUndefined();
    expect(Object.keys(map.data)).toEqual(['ropc-gateway.json']);
    expect(map.data['ropc-gateway.json']).toBe(dashboardFile.trimEnd());
  });

  it('takes the label, its value, the namespace and annotations from grafanaDashboard.*', () => {
    const map = find<ConfigMap>(
      template([
        ...on,
        '--set',
        'grafanaDashboard.label=dashboards.example.org/load',
        '--set',
        'grafanaDashboard.labelValue=yes',
        '--set',
        'grafanaDashboard.namespace=monitoring',
        '--set',
        'grafanaDashboard.annotations.grafana_folder=Identity',
      ]),
      'ConfigMap',
      'rel-ropc-gateway-dashboard',
    );
    expect(map.metadata.labels['dashboards.example.org/load']).toBe('yes');
    expect(map.metadata.labels['grafana_dashboard']).toBeUndefined();
    expect(map.metadata.namespace).toBe('monitoring');
    expect(map.metadata.annotations).toEqual({ grafana_folder: 'Identity' });
  });

  it.each([
    ['a label value with a space', ['--set', 'grafanaDashboard.labelValue=a b'], /labelValue/],
    ['a label key with a space', ['--set', 'grafanaDashboard.label=a b'], /label/],
    ['an unknown grafanaDashboard key', ['--set', 'grafanaDashboard.folder=x'], /folder/],
    ['an unknown prometheusRule key', ['--set', 'prometheusRule.severity=x'], /severity/],
    ['an alert label that is not text', ['--set-json', 'prometheusRule.alertLabels={"team":1}'], /alertLabels|team/],
  ])('values.schema.json rejects %s', (_, args, message) => {
    const error = templateError([...on, ...args]);
    expect(error).toMatch(/schema/i);
    expect(error).toMatch(message);
  });
});

describe('the dashboard file', () => {
  interface Panel {
    id: number;
    type: string;
    title: string;
    datasource?: { type: string; uid: string };
    gridPos: { x: number; y: number; w: number; h: number };
    targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
  }
  const dashboard = JSON.parse(dashboardFile) as {
    uid: string;
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: Panel[];
  };

  it('asks for its Prometheus data source in a template variable, used by every panel and query', () => {
    expect(dashboard.uid).toBe('ropc-gateway');
    expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target.datasource?.uid, panel.title).toBe('${datasource}');
    }
  });

  it('has unique panel ids and refIds, on a 24-column grid', () => {
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });
});
