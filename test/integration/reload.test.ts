/**
 * Reload without a restart (docs/operations.md, "Configuration reload"): the real CLI
 * (`bin/ropc-gateway.js start --config FILE`), SIGHUP after the file changed. Under steady
 * load a route and a client are swapped with zero failed requests; a broken file keeps the
 * running configuration, one log line per problem; /metrics counts both. Needs `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';

let upstream: Upstream;
let child: ChildProcess;
let stdout = '';
let dir: string;
let file: string;
let base: string;
let adminBase: string;
let config: (clientId: string, routePath: string) => Record<string, unknown>;

const logLines = (msg: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === msg);

beforeAll(async () => {
  upstream = await startEchoUpstream();
  dir = mkdtempSync(join(tmpdir(), 'ropc-reload-'));
  const [userHash, secretHash] = await Promise.all([hashSecret('joe-pw'), hashSecret('app-secret')]);
  writeFileSync(join(dir, 'users.yaml'), stringify({ users: [{ username: 'joe', passwordHash: userHash }] }));
  const [port, adminPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  adminBase = `http://127.0.0.1:${adminPort}`;
  config = (clientId, routePath) => ({
    server: { host: '127.0.0.1', port, drainSeconds: 0 },
    admin: { host: '127.0.0.1', port: adminPort },
    oauth: { issuer: 'https://login.example.org' },
    store: { type: 'memory' },
    upstream: { url: upstream.url },
    clients: [
      { id: 'steady', secretHash, scopes: ['read'], defaultScopes: ['read'] },
      { id: clientId, secretHash, scopes: ['read'], defaultScopes: ['read'] },
    ],
    validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
    routes: [
      { path: '/stable/**', auth: 'none' },
      { path: routePath, auth: 'none' },
    ],
  });
  file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config('old-client', '/old/**')));
  child = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  await waitFor(() => stdout.includes('ropc-gateway listening') || child.exitCode !== null, 20_000, 'the gateway to listen');
  if (child.exitCode !== null) throw new Error(`start exited: ${stderr}`);
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await upstream?.close();
});

const basic = (id: string): string => `Basic ${Buffer.from(`${id}:app-secret`).toString('base64')}`;
const token = (clientId: string) =>
  fetch(`${base}/as/token.oauth2`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId) },
    body: 'grant_type=password&username=joe&password=joe-pw',
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });
const get = (path: string) =>
  fetch(`${base}${path}`).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${adminBase}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('SIGHUP', () => {
  it('swaps a route and a client under load with zero failed requests', async () => {
    expect(await get('/old/x')).toBe(200);
    expect(await get('/new/x')).toBe(401);
    expect(await token('old-client')).toBe(200);
    expect(await token('new-client')).toBe(401);

    // Steady load on what both configurations serve: a public route and a client kept in both.
    let stop = false;
    const failures: string[] = [];
    let served = 0;
    const loop = async (request: () => Promise<number>, what: string): Promise<void> => {
      while (!stop) {
        const status = await request().catch((err: Error) => err.message);
        if (status === 200) served += 1;
        else failures.push(`${what}: ${status}`);
      }
    };
    const loops = [loop(() => get('/stable/a'), 'route'), loop(() => get('/stable/b'), 'route'), loop(() => token('steady'), 'token')];

    await waitFor(() => served > 20, 10_000, 'load before the reload');
    writeFileSync(file, stringify(config('new-client', '/new/**')));
    child.kill('SIGHUP');
    await waitFor(() => logLines('configuration reloaded').length === 1, 10_000, 'the reload');
    const atReload = served;
    await waitFor(() => served > atReload + 20, 10_000, 'load after the reload');
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);

    expect(await get('/new/x')).toBe(200);
    expect(await get('/old/x')).toBe(401);
    expect(await token('new-client')).toBe(200);
    expect(await token('old-client')).toBe(401);
    expect(await metric('ropc_config_reloads_total{outcome="ok"}')).toBe(1);
  });

  it('keeps the running configuration on a broken file, one log line per problem', async () => {
    const broken = {
      ...config('new-client', '/new/**'),
      validators: [{ name: 'local', type: 'file', path: 'missing.yaml' }],
      upstream: { url: 'ftp://x' },
    };
    writeFileSync(file, stringify(broken));
    child.kill('SIGHUP');
    const refused = 'configuration not reloaded; the running configuration stays';
    await waitFor(() => logLines(refused).length >= 2, 10_000, 'the refused reload');
    expect(logLines(refused).map((l) => l['problem'])).toEqual([
      'upstream.url: must be an http:// or https:// URL: value was "ftp://x"',
      `validators[0].path: missing.yaml (resolved to ${join(dir, 'missing.yaml')}): cannot read the users file: no such file`,
    ]);
    expect(await get('/new/x')).toBe(200);
    expect(await token('new-client')).toBe(200);
    expect(await metric('ropc_config_reloads_total{outcome="failed"}')).toBe(1);
    expect(await metric('ropc_config_reloads_total{outcome="ok"}')).toBe(1);
    expect(child.exitCode).toBeNull();
  });
});

describe('reload.watch', () => {
  it('reloads when the file changes, without a signal', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const watched = join(dir, 'watched.yaml');
    const withRoute = (routePath: string): string =>
      stringify({
        ...config('new-client', routePath),
        server: { host: '127.0.0.1', port, drainSeconds: 0 },
        admin: { host: '127.0.0.1', port: adminPort },
        reload: { watch: true },
      });
    writeFileSync(watched, withRoute('/before/**'));
    const gw = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', watched], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    gw.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor(() => out.includes('ropc-gateway listening') || gw.exitCode !== null, 20_000, 'the watching gateway to listen');
      const status = (path: string) =>
        fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      expect(await status('/after/x')).toBe(401);
      writeFileSync(`${watched}.tmp`, withRoute('/after/**'));
      renameSync(`${watched}.tmp`, watched); // an atomic replace, as editors and ConfigMaps do
      await waitFor(() => out.includes('"msg":"configuration reloaded"'), 15_000, 'the watched reload');
      expect(await status('/after/x')).toBe(200);
      expect(await status('/before/x')).toBe(401);
    } finally {
      const exited = new Promise((r) => gw.once('exit', r));
      gw.kill('SIGTERM');
      await exited;
    }
  });
});
