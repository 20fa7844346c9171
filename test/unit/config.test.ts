/** Configuration: every problem at once, one line each, naming the key; env vars; …File secrets; docs stay fresh. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from '../../src/config/load.js';
import { configurationMarkdown } from '../../src/config/docs.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

function file(content: string, name = 'gateway.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-cfg-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function problems(content: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig({ mode: 'production', file: file(content), env });
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const minimal = `
store: { type: memory }
upstream: { url: "http://127.0.0.1:8080" }
clients: [{ id: app, secretHash: "${HASH}", scopes: [read] }]
validators: [{ name: local, type: file, path: users.yaml }]
`;

describe('configuration loading', () => {
  it('loads a minimal production file with defaults', () => {
    const config = loadConfig({ mode: 'production', file: file(minimal), env: {} });
    expect(config.server.port).toBe(9031);
    expect(config.oauth.accessTokenTtl).toBe(14400);
    expect(config.clients[0]?.validators).toEqual(['local']);
    expect(config.clients[0]?.grantTypes).toEqual(['password', 'refresh_token']);
    expect(config.validators[0]).toMatchObject({ type: 'file', name: 'local' });
  });

  it('reports every problem at once, one line each, naming the key', () => {
    const found = problems(`
server: { port: 99999, limits: { bodyBytes: -1 } }
log: { level: loud }
oauth: { paths: { token: "no-slash" } }
clients:
  - { id: app, scopes: [read], defaultScopes: [write], validators: [ghost], grantTypes: [implicit] }
validators: [{ name: x, type: smtp }]
routes: [{ path: "api", auth: maybe }]
surprise: 1
`);
    expect(found).toEqual(
      expect.arrayContaining([
        'server.port: must be a port number (0-65535): value was 99999',
        'server.limits.bodyBytes: must be a whole number of at least 1: value was -1',
        'log.level: must be one of the possible values: ["fatal","error","warn","info","debug","trace","silent"]: value was "loud"',
        'oauth.paths.token: must be a path starting with "/" (printable ASCII, no spaces): value was "no-slash"',
        'surprise: unknown key (not in the schema)',
        'validators[0].type: must be one of file, ldap, http: value was "smtp"',
        'clients[0].grantTypes: unknown value "implicit" (allowed: password, refresh_token)',
        'clients[0]: needs secretHash or secretFile (or public: true)',
        'clients[0].defaultScopes: "write" is not in scopes',
        'clients[0].validators: no validator is named "ghost"',
        'routes[0].auth: must be one of bearer, none, bearer-or-basic',
        'routes[0].path: must start with "/"',
        'store.type: required in production (redis, or memory for a single process)',
        'upstream.url: required in production (the application to protect)',
      ]),
    );
    for (const line of found) expect(line).not.toContain('\n');
  });

  it('takes ROPC_* environment variables over the file', () => {
    expect(envName('store.redis.keyPrefix')).toBe('ROPC_STORE_REDIS_KEY_PREFIX');
    const config = loadConfig({
      mode: 'production',
      file: file(minimal),
      env: {
        ROPC_SERVER_PORT: '8443',
        ROPC_OAUTH_REFRESH_ROTATION: 'false',
        ROPC_STORE_TYPE: 'redis',
        ROPC_STORE_REDIS_URL: 'redis://r:6379/1',
      },
    });
    expect(config.server.port).toBe(8443);
    expect(config.oauth.refreshRotation).toBe(false);
    expect(config.store.redis.url).toBe('redis://r:6379/1');
    expect(problems(minimal, { ROPC_SERVER_PORT: 'eighty' })).toEqual([
      'server.port: must be a port number (0-65535): value was "eighty" (from the environment variable ROPC_SERVER_PORT)',
    ]);
  });

  it('reads …File secrets relative to the configuration file, and reports unreadable ones', () => {
    const path = file(
      minimal
        .replace(`secretHash: "${HASH}"`, 'secretFile: client-secret')
        .replace('store: { type: memory }', 'store: { type: redis, redis: { url: "redis://x:6379", passwordFile: /nonexistent/pw } }'),
    );
    writeFileSync(join(path, '..', 'client-secret'), 's3cret\n');
    try {
      loadConfig({ mode: 'production', file: path, env: {} });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['store.redis.passwordFile: cannot read /nonexistent/pw: ENOENT (no such file)']);
    }
    const ok = loadConfig({ mode: 'production', file: path, env: { ROPC_STORE_REDIS_PASSWORD_FILE: '' } });
    expect(ok.clients[0]?.secret).toBe('s3cret');
  });

  it('refuses the dev example secret and users in production', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-cfg-'));
    writeFileSync(join(dir, 'secret'), '2Federate');
    const path = join(dir, 'gateway.yaml');
    writeFileSync(
      path,
      minimal
        .replace(`secretHash: "${HASH}"`, 'secretFile: secret')
        .replace('path: users.yaml', `path: ${join(process.cwd(), 'config/dev/users.yaml')}`),
    );
    try {
      loadConfig({ mode: 'production', file: path, env: {} });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        'clients[0].secretFile: holds the example secret of dev mode; set a secret of your own',
        'validators[0].path: is the example users file of dev mode; use your own',
      ]);
    }
  });

  it('reports an unreadable or malformed file clearly', () => {
    const found = problems(': : :\n  - [');
    expect(found.length).toBeGreaterThan(0);
    // Every parser error, each on one line with its position, none cut off at a colon.
    for (const line of found) expect(line).toMatch(/gateway\.yaml: not valid YAML or JSON: .+ at line \d+, column \d+$/);
  });
});

describe('docs/configuration.md', () => {
  it('is the generated reference (run `npm run docs:config` after changing the schema)', () => {
    expect(readFileSync('docs/configuration.md', 'utf8')).toBe(configurationMarkdown());
  });
});

describe('config/example.yaml', () => {
  it('is a valid production configuration that sets every schema key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-example-'));
    const text = readFileSync('config/example.yaml', 'utf8');
    writeFileSync(join(dir, 'gateway.yaml'), text);
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    for (const f of ['legacy-cli', 'ldap-bind', 'redis-password', 'ldap-ca.pem', 'pf-introspection'])
      writeFileSync(join(dir, 'secrets', f), 'x\n');
    writeFileSync(join(dir, 'secrets', 'legacy-api-headers.yaml'), 'X-Api-Key: k\n');
    writeFileSync(join(dir, 'users.yaml'), 'users: []\n');
    const config = loadConfig({ mode: 'production', file: join(dir, 'gateway.yaml'), env: {} });
    expect(config.clients.map((c) => c.id)).toEqual(['ro_client', 'legacy-cli', 'mobile']);
    // Every documented scalar key appears in the example.
    for (const line of configurationMarkdown().split('\n')) {
      const key = /^\| `([a-zA-Z.]+)` \|/.exec(line)?.[1];
      if (key) expect(text, key).toMatch(new RegExp(`\\b${key.split('.').pop() as string}\\b`));
    }
  });
});
