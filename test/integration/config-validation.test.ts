/**
 * One configuration truth (docs/configuration.md, "Validation"): `check-config` is `start`
 * without the network. For each case the real CLI is spawned twice; both print the same lines,
 * exit 2, and `start` exits on its own (within the harness wait, never killed) without
 * listening. Needs `npm run build` (bin/ropc-gateway.js runs dist/).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

const HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
/** The dev client's hash of the example secret (config/dev/gateway.yaml). */
const EXAMPLE_HASH = '$argon2id$v=19$m=65536,t=3,p=4$7+0YBHklrzqf4I/FwB/WGA$lJZ3e5+bD6dQn5wBrAqWJNPRiQekc1HYE+N6kE35RIA';
/** A start that has not exited by then hangs; the harness kills it and the test fails. */
const HARNESS_WAIT_MS = 15_000;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/ropc-gateway.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'], ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), HARNESS_WAIT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let dir: string;
let ports: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-validate-'));
  writeFileSync(join(dir, 'users.yaml'), 'users: []\n');
  writeFileSync(join(dir, 'not-a-ca.pem'), 'this is no certificate\n');
  writeFileSync(join(dir, 'plain-password.yaml'), 'users:\n  - { username: joe, password: hunter2 }\n');
  writeFileSync(
    join(dir, 'placeholder.yaml'),
    'users:\n  - { username: joe, passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>" }\n',
  );
  ports = `server: { port: ${await freePort()} }\nadmin: { port: ${await freePort()} }\noauth: { issuer: "https://login.example.org" }\n`;
});

/** A production file: memory store, one client, `validators` and `extra` as given. */
function config(name: string, validators: string, extra = '', client = `secretHash: "${HASH}"`): string {
  const path = join(dir, `gateway-${name}.yaml`);
  writeFileSync(
    path,
    `${ports}store: { type: memory }\nupstream: { url: "http://127.0.0.1:9" }\nclients: [{ id: app, ${client}, scopes: [read] }]\nvalidators:\n${validators}\n${extra}`,
  );
  return path;
}

const ldap = (over: string): string => `  - { name: dir, type: ldap, userSearchBase: "ou=people,dc=example,dc=org", ${over} }`;
const file = (path: string): string => `  - { name: local, type: file, path: ${path} }`;

/** Both commands, the same lines, exit 2, start exits by itself and never listens. */
async function agree(path: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const [check, start] = await Promise.all([run(['check-config', '--config', path], env), run(['start', '--config', path], env)]);
  expect(check.code, check.stderr).toBe(2);
  expect(start.signal, 'start hung and was killed by the harness').toBeNull();
  expect(start.code, start.stderr).toBe(2);
  expect(start.stdout).not.toContain('listening');
  expect(start.stderr).toBe(check.stderr);
  expect(check.stderr).not.toMatch(/\bat .+\.js:\d+/);
  return check.stderr.trimEnd().split('\n').slice(1);
}

describe('check-config and start agree', () => {
  it('on bad LDAP URLs: no scheme separator, http://, port 99999', async () => {
    const lines = await agree(
      config('ldap-urls', ldap('urls: ["ldap//host", "http://ldap.example.org", "ldap://ldap.example.org:99999"]')),
    );
    expect(lines).toEqual([
      'validators[0].urls[0]: "ldap//host" is not a URL',
      'validators[0].urls[1]: "http://ldap.example.org" must start with ldap:// or ldaps://',
      'validators[0].urls[2]: "ldap://ldap.example.org:99999" has the port 99999, outside 1-65535',
    ]);
  });

  it('on startTls with an ldaps:// URL', async () => {
    expect(await agree(config('starttls', ldap('urls: ["ldaps://ldap.example.org"], startTls: true')))).toEqual([
      'validators[0].urls[0]: startTls applies to ldap:// URLs; ldaps://ldap.example.org is already TLS',
    ]);
  });

  it('on a missing userSearchBase', async () => {
    expect(await agree(config('search-base', '  - { name: dir, type: ldap, urls: ["ldap://ldap.example.org"] }'))).toEqual([
      'validators[0].userSearchBase: required for search-then-bind (or set userDnTemplate for a direct bind)',
    ]);
  });

  it('on a CA file that holds no PEM, naming the configured and the resolved path', async () => {
    expect(await agree(config('ca', ldap('urls: ["ldaps://ldap.example.org"], tlsCaFile: not-a-ca.pem')))).toEqual([
      `validators[0].tlsCaFile: not-a-ca.pem (resolved to ${join(dir, 'not-a-ca.pem')}) holds no PEM certificate`,
    ]);
  });

  it('on a missing users file', async () => {
    expect(await agree(config('missing-users', file('nobody.yaml')))).toEqual([
      `validators[0].path: nobody.yaml (resolved to ${join(dir, 'nobody.yaml')}): cannot read the users file: no such file`,
    ]);
  });

  it('on a users file with a plain password, or a placeholder hash', async () => {
    const plain = await agree(config('plain', file('plain-password.yaml')));
    expect(plain).toContain(
      `validators[0].path: plain-password.yaml (resolved to ${join(dir, 'plain-password.yaml')}): users[0].password: unknown key; store a hash in passwordHash, never a plain password`,
    );
    expect(await agree(config('placeholder', file('placeholder.yaml')))).toEqual([
      `validators[0].path: placeholder.yaml (resolved to ${join(dir, 'placeholder.yaml')}): users[0].passwordHash: must be an argon2id or bcrypt hash`,
    ]);
  });

  it('on a client secretHash of the dev example secret', async () => {
    expect(await agree(config('example-secret', file('users.yaml'), '', `secretHash: "${EXAMPLE_HASH}"`))).toEqual([
      'clients[0].secretHash: is a hash of the example secret of dev mode; set a secret of your own',
    ]);
  });

  it('on an unknown ROPC_* variable and on a value from the environment', async () => {
    const lines = await agree(config('env', file('users.yaml')), { ROPC_STORE_REDIS_ULR: 'redis://r:6379', ROPC_SERVER_PORT: 'eighty' });
    expect(lines).toEqual([
      'ROPC_STORE_REDIS_ULR: unknown environment variable (no configuration key reads it); did you mean ROPC_STORE_REDIS_URL?',
      'server.port: must be a port number (0-65535): value was "eighty" (from the environment variable ROPC_SERVER_PORT)',
    ]);
  });

  it('reports every problem at once, each once, without cascades', async () => {
    const path = config(
      'many',
      `  - { name: ghost, type: smtp }\n${ldap('urls: ["ldap//host"], timeoutMs: "2s"')}\n${file('nobody.yaml')}`,
      '',
      `secretHash: "${HASH}", validators: [ghost, dir, local]`,
    );
    writeFileSync(path, readFileSync(path, 'utf8').replace('http://127.0.0.1:9', 'ftp://127.0.0.1:9'));
    const lines = await agree(path);
    expect(lines).toEqual([
      'upstream.url: must be an http:// or https:// URL: value was "ftp://127.0.0.1:9"',
      'validators[0].type: must be one of file, ldap, http: value was "smtp"',
      'validators[1].timeoutMs: must be a whole number of at least 1: value was "2s"',
      'validators[1].urls[0]: "ldap//host" is not a URL',
      `validators[2].path: nobody.yaml (resolved to ${join(dir, 'nobody.yaml')}): cannot read the users file: no such file`,
    ]);
  });

  it('on a YAML syntax error, with the whole parser message', async () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, 'server:\n  port: [1,\n');
    const lines = await agree(path);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${path}: not valid YAML or JSON: .+ at line \\d+, column \\d+$`));
  });
});

describe('a backend that is down is not a configuration problem', () => {
  it('check-config accepts a file whose Redis is unreachable; start listens and reports not ready', async () => {
    const path = config('redis-down', file('users.yaml'));
    const dead = await freePort();
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replace(
        'store: { type: memory }',
        `store: { type: redis, redis: { url: "redis://127.0.0.1:${dead}", connectTimeoutMs: 200 } }`,
      ),
    );
    const check = await run(['check-config', '--config', path]);
    expect(check.code, check.stderr).toBe(0);
    const adminPort = /admin: \{ port: (\d+) \}/.exec(readFileSync(path, 'utf8'))?.[1];
    const child = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    try {
      await expect
        .poll(() => stdout.includes('ropc-gateway listening') || child.exitCode !== null, { timeout: HARNESS_WAIT_MS })
        .toBe(true);
      expect(child.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(503);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('a start that cannot serve', () => {
  it('exits 1 when its port is taken, closing its Redis client instead of hanging', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '0.0.0.0', () => r()));
    const port = (taken.address() as AddressInfo).port;
    try {
      const path = config('port-taken', file('users.yaml'));
      // With a Redis client reconnecting in the background, as a real deployment has.
      const dead = await freePort();
      const text = readFileSync(path, 'utf8')
        .replace(/server: \{ port: \d+ \}/, `server: { port: ${port} }`)
        .replace('store: { type: memory }', `store: { type: redis, redis: { url: "redis://127.0.0.1:${dead}", connectTimeoutMs: 200 } }`);
      writeFileSync(path, text);
      const start = await run(['start', '--config', path]);
      expect(start.signal, 'start hung and was killed by the harness').toBeNull();
      expect(start.code).toBe(1);
      expect(start.stderr).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});

describe('warnings', () => {
  it('warn about an http:// issuer in production without refusing the file', async () => {
    const path = join(dir, 'gateway-issuer.yaml');
    writeFileSync(
      path,
      `${ports.replace('https://login.example.org', 'http://login.example.org')}store: { type: memory }\nupstream: { url: "http://127.0.0.1:9" }\nclients: [{ id: app, secretHash: "${HASH}", scopes: [read], defaultScopes: [read] }]\nvalidators:\n${file('users.yaml')}\n`,
    );
    const check = await run(['check-config', '--config', path]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toBe('configuration OK\n');
    expect(check.stderr).toBe(
      'warning: oauth.issuer: http://login.example.org is not https:// (RFC 8414 §2: the issuer identifier is an https URL); set the public https:// address of the gateway\n',
    );
  });
});
