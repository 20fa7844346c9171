/**
 * The chart's alerting rules (helm/ropc-gateway/files/alerts/rules.yaml) checked by the real
 * promtool (Debian's `prometheus` package): `promtool check rules` on the file the
 * PrometheusRule embeds, and `promtool test rules` with the unit tests of
 * alert-rules.promtool.yaml, which must show every alert both firing and not firing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

const RULES_FILE = resolve('helm/ropc-gateway/files/alerts/rules.yaml');
const TESTS_FILE = resolve('test/packaging/alert-rules.promtool.yaml');

interface RuleFile {
  groups: {
    name: string;
    rules: { alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
  }[];
}
interface PromtoolTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[] }[];
}

const scratch = mkdtempSync(join(tmpdir(), 'ropc-alert-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function promtool(args: readonly string[]): { status: number; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool (Debian package prometheus) is required: ${run.error.message}`);
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

const rules = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

describe('alerting rules', () => {
  it('pass promtool check rules', () => {
    const result = promtool(['check', 'rules', RULES_FILE]);
    expect(result.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(result.status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const result = promtool(['test', 'rules', TESTS_FILE]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
  });

  it('have a unit test of every alert firing and one of it not firing', () => {
    const tests = parse(readFileSync(TESTS_FILE, 'utf8')) as PromtoolTests;
    expect(tests.rule_files.map((f) => resolve('test/packaging', f))).toEqual([RULES_FILE]);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const untested = alerts
      .map((a) => a.alert!)
      .flatMap((name) => {
        const mine = cases.filter((c) => c.alertname === name);
        return [
          ...(mine.some((c) => c.exp_alerts.length > 0) ? [] : [`${name}: never fires`]),
          ...(mine.some((c) => c.exp_alerts.length === 0) ? [] : [`${name}: never quiet`]),
        ];
      });
    expect(untested).toEqual([]);
  });

  it('give every alert a severity, a summary and a description, and unique names', () => {
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const alert of alerts) {
      expect(['warning', 'critical'], alert.alert).toContain(alert.labels?.['severity']);
      expect(Object.keys(alert.annotations ?? {}).sort(), alert.alert).toEqual(['description', 'summary']);
      expect(alert.alert).toMatch(/^RopcGateway[A-Z]\w+$/);
    }
  });

  it('fail their unit tests when an alert is broken (the tests can fail)', () => {
    const broken = structuredClone(rules);
    const down = broken.groups.flatMap((g) => g.rules).find((r) => r.alert === 'RopcGatewayValidatorDown')!;
    down.expr = down.expr.replace('== 0', '== 1');
    const rulesCopy = join(scratch, 'rules.yaml');
    writeFileSync(rulesCopy, stringify(broken));
    const tests = parse(readFileSync(TESTS_FILE, 'utf8')) as PromtoolTests;
    tests.rule_files = [rulesCopy];
    const testsCopy = join(scratch, 'tests.yaml');
    writeFileSync(testsCopy, stringify(tests));
    const result = promtool(['test', 'rules', testsCopy]);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/FAILED[\s\S]*RopcGatewayValidatorDown/);
  });
});
