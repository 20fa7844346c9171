/**
 * Client secret rotation on a real gateway (docs/operations.md, "Client secret rotation"): the
 * new secret (secretHash) and the old one (a secondary hash) both work until the old one's
 * notAfter; an expired secondary is refused and check-config warns about it; the metric and
 * the log name the secret that matched by index, never its value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { hashSecret } from '../../src/security/password-hash.js';
import { validateConfig } from '../../src/config/validate.js';

const NEW = 'new-secret-2026';
const OLD = 'old-secret-2025';
const RETIRED = 'retired-secret-2024';

let gw: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  // Cache off: every request verifies, so each one is counted and logged as a verification.
  gw = await startGateway({
    upstream: upstream.url,
    config: {
      oauth: { clientAuthCacheSeconds: 0 },
      clients: [
        {
          id: 'app',
          secretHash: await hashSecret(NEW),
          secondarySecretHashes: [await hashSecret(OLD), await hashSecret(RETIRED)],
          secondarySecretsNotAfter: ['2999-01-01T00:00:00Z', '2020-01-01T00:00:00Z'],
          scopes: ['read'],
          defaultScopes: ['read'],
        },
      ],
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const login = (secret: string) =>
  postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth('app', secret) });

describe('client secret rotation', () => {
  it('accepts the new and the old secret, refuses the expired one and a wrong one', async () => {
    expect((await login(NEW)).status).toBe(200);
    expect((await login(OLD)).status).toBe(200);
    const retired = await login(RETIRED);
    expect(retired.status).toBe(401);
    expect(retired.json.error).toBe('invalid_client');
    expect((await login('wrong')).status).toBe(401);
  });

  it('counts and logs the matching secret by index, never its value', async () => {
    await login(OLD);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/ropc_client_secret_matches_total\{client="app",secret="0"\} [1-9]/);
    expect(metrics).toMatch(/ropc_client_secret_matches_total\{client="app",secret="1"\} [1-9]/);
    expect(metrics).not.toMatch(/secret="2"/);
    const lines = gw.logs().filter((l) => l.event === 'client_secret_matched');
    expect(lines.map((l) => l.secretIndex)).toEqual(expect.arrayContaining([0, 1]));
    for (const l of lines) expect(l.level).toBe('info');
    for (const secret of [NEW, OLD, RETIRED]) expect(gw.logText()).not.toContain(secret);
  });

  it('check-config warns about the expired secret and refuses an unreadable notAfter', async () => {
    const file = join(gw.dir, 'gateway.yaml');
    const ok = await validateConfig({ mode: 'production', file, env: {} });
    expect(ok.problems).toEqual([]);
    expect(ok.warnings).toContain(
      'clients[0].secondarySecretsNotAfter[1]: secret 2 of client "app" expired at 2020-01-01T00:00:00Z and is refused; remove it from secondarySecretHashes',
    );
    const config = parse(readFileSync(file, 'utf8')) as { clients: Record<string, unknown>[] };
    config.clients[0]!.secondarySecretsNotAfter = ['next tuesday'];
    writeFileSync(file, stringify(config));
    const bad = await validateConfig({ mode: 'production', file, env: {} });
    expect(bad.problems.some((p) => p.includes('clients[0].secondarySecretsNotAfter[0]: must be an ISO 8601 instant'))).toBe(true);
  });
});
