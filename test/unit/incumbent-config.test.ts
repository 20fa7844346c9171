/** `incumbent.introspection`: one line per problem, the secret from a file or the environment, never echoed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectConfig, loadConfig } from '../../src/config/load.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const base = `
store: { type: memory }
upstream: { url: "http://127.0.0.1:8080" }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]
validators: [{ name: local, type: file, path: users.yaml }]
oauth: { issuer: "https://gw.example.com" }
`;

function write(extra: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-incumbent-'));
  const path = join(dir, 'gateway.yaml');
  writeFileSync(path, base + extra);
  return { dir, path };
}

describe('incumbent.introspection configuration', () => {
  it('is off by default', () => {
    const config = loadConfig({ mode: 'production', file: write('').path, env: {} });
    expect(config.incumbent.introspection).toMatchObject({
      enabled: false,
      sameFormat: false,
      cacheSeconds: 60,
      timeoutMs: 2000,
      claims: { subject: 'sub', groups: 'groups', attributes: {} },
    });
  });

  it('names every problem on its own line', () => {
    const { problems } = collectConfig({
      mode: 'production',
      file: write(`
incumbent:
  introspection:
    enabled: true
    caFile: missing-ca.pem
    claims: { subject: "", attributes: { "bad name": mail } }
`).path,
      env: {},
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'incumbent.introspection.claims.attributes: "bad name" is not an attribute name (letters, digits and ._-)',
        'incumbent.introspection.claims.subject: must name a claim',
        'incumbent.introspection.url: is required when incumbent.introspection.enabled',
        'incumbent.introspection.clientId: is required when incumbent.introspection.enabled (RFC 7662 §2.1: the endpoint requires client authentication)',
      ]),
    );
    expect(problems.some((p) => p.startsWith('incumbent.introspection.caFile: cannot read ') && p.endsWith('ENOENT'))).toBe(true);
  });

  it('refuses credentials in the URL (without echoing them) and the gateway itself as the incumbent', () => {
    const withUser = collectConfig({
      mode: 'production',
      file: write(
        'incumbent: { introspection: { enabled: true, clientId: rs, url: "https://rs:hunter2@pf.example.com/as/introspect.oauth2" } }',
      ).path,
      env: {},
    });
    expect(withUser.problems).toContain('incumbent.introspection.url: must not hold credentials; set clientId and clientSecretFile');
    expect(withUser.problems.join('\n')).not.toContain('hunter2');
    const self = collectConfig({
      mode: 'production',
      file: write('incumbent: { introspection: { enabled: true, clientId: rs, url: "https://gw.example.com/as/introspect.oauth2" } }').path,
      env: {},
    });
    expect(self.problems).toContain("incumbent.introspection.url: is this gateway's own introspection endpoint; name the incumbent's");
  });

  it('warns about a plain-http incumbent off this host', () => {
    const { problems, warnings } = collectConfig({
      mode: 'production',
      file: write('incumbent: { introspection: { enabled: true, clientId: rs, url: "http://pf.internal:9031/as/introspect.oauth2" } }')
        .path,
      env: {},
    });
    expect(problems).toEqual([]);
    expect(warnings).toContain(
      'incumbent.introspection.url: http://pf.internal:9031/as/introspect.oauth2 is not https://: the client secret and the tokens would cross the network in clear',
    );
  });

  it('reads the client secret from clientSecretFile, or from the environment', () => {
    const { dir, path } = write(
      'incumbent: { introspection: { enabled: true, clientId: rs, url: "https://pf.example.com/as/introspect.oauth2", clientSecretFile: pf-secret } }',
    );
    writeFileSync(join(dir, 'pf-secret'), 's3cret-from-file\n');
    expect(loadConfig({ mode: 'production', file: path, env: {} }).incumbent.introspection.clientSecret).toBe('s3cret-from-file');
    const env = { ROPC_INCUMBENT_INTROSPECTION_CLIENT_SECRET: 's3cret-from-env' };
    expect(
      loadConfig({
        mode: 'production',
        file: write('incumbent: { introspection: { enabled: true, clientId: rs, url: "https://pf.example.com/as/introspect.oauth2" } }')
          .path,
        env,
      }).incumbent.introspection.clientSecret,
    ).toBe('s3cret-from-env');
  });
});
