/**
 * The batched stdout destination of `ropc-gateway start` (src/observability/logger.ts): lines
 * wait in a buffer until ~3.5 KB or 200 ms, so the process must write them out when it exits.
 * The real CLI (dist/, `npm run build`) answers requests and gets SIGTERM at once: every
 * answered request's completion line, and the last shutdown line, are in its output. Audit
 * events on stdout go through the same destination: a login's event is there too, after the
 * lines written before it and before the completion line of its request.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { waitFor } from '../support/wait-for.js';

let upstream: Upstream;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ropc-log-flush-'));
  upstream = await startEchoUpstream();
  writeFileSync(join(dir, 'users.yaml'), stringify({ users: [{ username: 'joe', passwordHash: await hashSecret('joe-pw') }] }));
  writeFileSync(
    join(dir, 'gateway.yaml'),
    stringify({
      server: { host: '127.0.0.1', port: 0, drainSeconds: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      store: { type: 'memory' },
      upstream: { url: upstream.url },
      oauth: { issuer: 'https://gateway.test' },
      clients: [{ id: 'app', secretHash: await hashSecret('app-secret'), scopes: ['read'] }],
      validators: [{ name: 'local', type: 'file', path: 'users.yaml' }],
      routes: [{ path: '/**', auth: 'none' }],
    }),
  );
});
afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('writes every buffered line before it exits on SIGTERM', async () => {
  const child = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', join(dir, 'gateway.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines = (): Record<string, unknown>[] =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  try {
    await waitFor(
      () => lines().some((l) => l.msg === 'ropc-gateway listening') || child.exitCode !== null,
      30_000,
      'the gateway to listen',
    );
    const { port } = lines().find((l) => l.msg === 'ropc-gateway listening') as { port: number };
    // Fewer bytes of lines than one batch: none of them is written before the exit, unless the timer fires.
    const paths = Array.from({ length: 8 }, (_, i) => `/last/${i}`);
    for (const path of paths) expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(200);
    // The login's audit event comes after those lines, though they may still wait in the batch.
    const login = await fetch(`http://127.0.0.1:${port}/as/token.oauth2`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('app:app-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=password&username=joe&password=joe-pw&scope=read',
    });
    expect(login.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const requests = lines().filter((l) => l.msg === 'request' && l.status === 200);
    expect(requests).toHaveLength(paths.length + 1);
    const all = lines();
    const event = all.findIndex((l) => l.kind === 'audit' && l.event === 'login' && l.outcome === 'success');
    expect(event).toBeGreaterThan(-1);
    const completion = all.findIndex((l) => l.msg === 'request' && l.reqId === all[event]?.request_id);
    expect(completion).toBeGreaterThan(event);
    const earlier = all.flatMap((l, i) => (l.msg === 'request' && l.reqId !== all[event]?.request_id ? [i] : []));
    expect(earlier).toHaveLength(paths.length);
    expect(Math.max(...earlier)).toBeLessThan(event);
    expect(lines().at(-1)?.msg).toBe('stopped');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
