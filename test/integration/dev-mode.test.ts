/**
 * Dev mode as a newcomer runs it: the real CLI (`node bin/ropc-gateway.js start-dev`, what
 * `npm start` runs) on the fixed dev ports, and the PingFederate seed's request byte for byte.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';

let child: ChildProcess;
let stderr = '';
let stdout = '';

beforeAll(async () => {
  child = spawn(process.execPath, ['bin/ropc-gateway.js', 'start-dev'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  await waitFor(() => stdout.includes('ropc-gateway listening') || child.exitCode !== null, 20_000, 'start-dev to listen');
  if (child.exitCode !== null) throw new Error(`start-dev exited: ${stderr}`);
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});

describe('npm start (dev mode)', () => {
  it('says loudly that it is dev mode and how to get a token', () => {
    expect(stderr).toContain('DEV MODE');
    expect(stderr).toContain('grant_type=password&username=joe&password=2Federate&scope=edit');
  });

  it("answers the seed's exact request (PingFederate's ROPC example)", async () => {
    const res = await fetch('http://localhost:9031/as/token.oauth2', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic cm9fY2xpZW50OjJGZWRlcmF0ZQ==' },
      body: 'grant_type=password&username=joe&password=2Federate&scope=edit',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8');
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['access_token', 'token_type', 'expires_in', 'refresh_token']);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(14400);

    // The round trip through the echo upstream.
    const echoed = await fetch('http://localhost:9031/hello', { headers: { authorization: `Bearer ${body.access_token as string}` } });
    expect(echoed.status).toBe(200);
    const seen = (await echoed.json()) as { method: string; path: string; headers: Record<string, string>; body: string };
    expect(seen.method).toBe('GET');
    expect(seen.path).toBe('/hello');
    expect(seen.headers['x-auth-subject']).toBe('joe');
    expect(seen.headers['x-auth-groups']).toBe('editors');
    expect(seen.headers['x-auth-scope']).toBe('edit');

    const refreshed = await fetch('http://localhost:9031/as/token.oauth2', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic cm9fY2xpZW50OjJGZWRlcmF0ZQ==' },
      body: `grant_type=refresh_token&refresh_token=${body.refresh_token as string}`,
    });
    expect(refreshed.status).toBe(200);
  });

  it('serves the admin port', async () => {
    expect((await fetch('http://localhost:9091/healthz')).status).toBe(200);
    const ready = await fetch('http://localhost:9091/readyz?verbose');
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { validators: unknown[] }).validators).toMatchObject([{ name: 'local', type: 'file', status: 'up' }]);
  });
});
