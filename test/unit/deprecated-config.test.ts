/**
 * Deprecated configuration keys (docs/upgrading.md): a configuration that still sets one loads,
 * with one warning line naming the key; an unknown value is refused as before.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectConfig } from '../../src/config/load.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

function configWith(upstream: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-deprecated-'));
  const path = join(dir, 'gateway.yaml');
  writeFileSync(
    path,
    `
store: { type: memory }
upstream: { url: "http://127.0.0.1:8080"${upstream} }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]
validators: [{ name: local, type: file, path: users.yaml }]
oauth: { issuer: "https://gw.example.com" }
`,
  );
  return path;
}

const engineWarnings = (warnings: readonly string[]): string[] => warnings.filter((w) => w.startsWith('upstream.engine:'));

describe('upstream.engine (deprecated, no effect)', () => {
  it('is not needed: without it there is no warning', () => {
    const { problems, warnings } = collectConfig({ mode: 'production', file: configWith(''), env: {} });
    expect(problems).toEqual([]);
    expect(engineWarnings(warnings)).toEqual([]);
  });

  for (const value of ['undici', 'http-proxy']) {
    it(`accepts its old value ${value} with one warning`, () => {
      const { problems, warnings } = collectConfig({ mode: 'production', file: configWith(`, engine: ${value}`), env: {} });
      expect(problems).toEqual([]);
      expect(engineWarnings(warnings)).toEqual([
        `upstream.engine: deprecated and ignored ("${value}"): plain HTTP always goes through undici, WebSocket through http-proxy-3; remove the key`,
      ]);
    });
  }

  it('accepts it from the environment too (ROPC_UPSTREAM_ENGINE)', () => {
    const { problems, warnings } = collectConfig({ mode: 'production', file: configWith(''), env: { ROPC_UPSTREAM_ENGINE: 'http-proxy' } });
    expect(problems).toEqual([]);
    expect(engineWarnings(warnings)).toHaveLength(1);
  });

  it('refuses any other value, as before', () => {
    const { problems } = collectConfig({ mode: 'production', file: configWith(', engine: nginx'), env: {} });
    expect(problems.some((p) => p.startsWith('upstream.engine'))).toBe(true);
  });
});
