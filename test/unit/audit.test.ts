/** The audit writer (src/observability/audit.ts): destinations, append, close, the line's shape. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine, countedAudit, createAudit } from '../../src/observability/audit.js';
import { createMetrics } from '../../src/observability/metrics.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-unit-'));
  dirs.push(dir);
  return join(dir, 'audit.jsonl');
};

describe('audit', () => {
  it('writes kind, v and time first, then the fields, as one line', () => {
    expect(auditLine({ event: 'refresh', outcome: 'success', sub: 'joe' }, new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)))).toBe(
      '{"kind":"audit","v":1,"time":"2026-01-02T03:04:05.006Z","event":"refresh","outcome":"success","sub":"joe"}',
    );
  });

  it('file: appends to what is there (mode 0600 when created), writes each event at once, nothing after close', () => {
    const file = tempFile();
    const first = createAudit({ destination: 'file', file });
    first.emit({ event: 'config_reload', outcome: 'success' });
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(2);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    first.close();
    first.emit({ event: 'config_reload', outcome: 'failure' });
    first.close();
    const second = createAudit({ destination: 'file', file });
    second.emit({ event: 'unlock', outcome: 'success', actor: 'cli' });
    second.close();
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => [e.event, e.outcome])).toEqual([
      ['config_reload', 'success'],
      ['unlock', 'success'],
    ]);
  });

  it('file: an existing file keeps its lines; an unopenable path throws at creation', () => {
    const file = tempFile();
    writeFileSync(file, '{"earlier":true}\n');
    const audit = createAudit({ destination: 'file', file });
    audit.emit({ event: 'refresh', outcome: 'success' });
    audit.close();
    expect(readFileSync(file, 'utf8').startsWith('{"earlier":true}\n{"kind":"audit"')).toBe(true);
    expect(() => createAudit({ destination: 'file', file: join(file, 'not-a-dir', 'x') })).toThrow();
  });

  it('stdout writes lines to the given stream; off writes nothing', () => {
    const lines: string[] = [];
    createAudit({ destination: 'stdout', file: '' }, { write: (l: string) => lines.push(l) }).emit({
      event: 'login',
      outcome: 'refused',
      reason: 'locked',
    });
    createAudit({ destination: 'off', file: '' }, { write: (l: string) => lines.push(l) }).emit({ event: 'login', outcome: 'refused' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\{"kind":"audit","v":1,.*"reason":"locked"\}\n$/);
  });

  it('counts every event in ropc_audit_events_total{event, outcome}, destination off included, and still writes it', async () => {
    const metrics = createMetrics();
    const lines: string[] = [];
    for (const inner of [
      createAudit({ destination: 'off', file: '' }),
      createAudit({ destination: 'stdout', file: '' }, { write: (l: string) => lines.push(l) }),
    ]) {
      const audit = countedAudit(inner, metrics);
      audit.emit({ event: 'login', outcome: 'failure', reason: 'invalid_password' });
      audit.emit({ event: 'refresh_reuse', outcome: 'refused' });
    }
    expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['login', 'refresh_reuse']);
    const text = await metrics.registry.metrics();
    expect(text).toContain('ropc_audit_events_total{event="login",outcome="failure"} 2');
    expect(text).toContain('ropc_audit_events_total{event="refresh_reuse",outcome="refused"} 2');
  });
});
