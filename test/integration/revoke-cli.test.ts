/**
 * `ropc-gateway revoke --config FILE (--subject USER | --token TOKEN)` against a real gateway's
 * real Redis store: the command runs with the gateway's configuration file, and the gateway
 * refuses what it revoked.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { revokeCommand, type CommandIo } from '../../src/cli/revoke.js';
import { main } from '../../src/main.js';

let upstream: Upstream;
let redis: RedisProcess;
let gw: TestGateway;
let configFile: string;
const prefix = `cli${Date.now()}:`;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  gw = await startGateway({ upstream: upstream.url, redisUrl: redis.url, config: { store: { redis: { keyPrefix: prefix } } } });
  configFile = writeConfig('gateway.yaml', { type: 'redis', redis: { url: redis.url, keyPrefix: prefix } });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await redis?.stop();
});

function writeConfig(name: string, store: Record<string, unknown>): string {
  const file = join(gw.dir, name);
  writeFileSync(file, stringify({ store, upstream: { url: upstream.url } }));
  return file;
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(args: string[], stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    stdin: Readable.from([Buffer.from(stdin)]),
  };
  const code = await revokeCommand(args, io);
  return { code, stdout, stderr };
}

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(username: 'joe' | 'alice' = 'joe'): Promise<Tokens> {
  const res = await postForm(
    gw.tokenUrl,
    `grant_type=password&username=${username}&password=${encodeURIComponent(USERS[username].password)}`,
    { authorization: basicAuth() },
  );
  expect(res.status).toBe(200);
  return res.json as unknown as Tokens;
}
const call = async (token: string): Promise<number> =>
  (await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status;
const refresh = (token: string) => postForm(gw.tokenUrl, `grant_type=refresh_token&refresh_token=${token}`, { authorization: basicAuth() });

describe('revoke --subject', () => {
  it('revokes every family of the user, nobody else', async () => {
    const [one, two, other] = [await login('joe'), await login('joe'), await login('alice')];
    const res = await run(['--config', configFile, '--subject', 'joe']);
    expect(res).toEqual({ code: 0, stdout: 'revoked 2 token families of subject "joe"\n', stderr: '' });
    for (const t of [one, two]) {
      expect(await call(t.access_token)).toBe(401);
      expect((await refresh(t.refresh_token)).json.error).toBe('invalid_grant');
    }
    expect(await call(other.access_token)).toBe(200);
  });

  it('exits 1 when the subject has nothing to revoke', async () => {
    expect(await run(['--config', configFile, '--subject', 'nobody'])).toEqual({
      code: 1,
      stdout: 'revoked 0 token families of subject "nobody"\n',
      stderr: '',
    });
  });
});

describe('revoke --token', () => {
  it('revokes the whole family of an access token', async () => {
    const tokens = await login();
    const res = await run(['--config', configFile, '--token', tokens.access_token]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^revoked the token family/);
    expect(await call(tokens.access_token)).toBe(401);
    expect((await refresh(tokens.refresh_token)).json.error).toBe('invalid_grant');
  });

  it('reads the token from stdin with --token -, and never prints it', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).json as unknown as Tokens;
    // An old, rotated refresh token still names its family.
    const res = await run(['--config', configFile, '--token', '-'], `${first.refresh_token}\n`);
    expect(res.code).toBe(0);
    expect(res.stdout + res.stderr).not.toContain(first.refresh_token.slice(22));
    expect(await call(second.access_token)).toBe(401);
  });

  it('exits 1 for a family that does not exist, 2 for something that is not a token', async () => {
    const tokens = await login();
    await run(['--config', configFile, '--token', tokens.access_token]);
    expect((await run(['--config', configFile, '--token', tokens.access_token])).code).toBe(1);
    const bad = await run(['--config', configFile, '--token', 'not-a-token']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a token of this gateway');
  });
});

describe('usage and failures', () => {
  it('wants exactly one of --subject and --token', async () => {
    expect((await run(['--config', configFile])).code).toBe(2);
    expect((await run(['--config', configFile, '--subject', 'joe', '--token', 'x'])).code).toBe(2);
  });

  it('refuses a memory store: its tokens live inside one gateway process', async () => {
    const res = await run(['--config', writeConfig('memory.yaml', { type: 'memory' }), '--subject', 'joe']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('store.type is memory');
  });

  it('exits 3 when Redis cannot be reached', async () => {
    const res = await run([
      '--config',
      writeConfig('dead.yaml', { type: 'redis', redis: { url: `redis://127.0.0.1:${await deadPort()}`, connectTimeoutMs: 300 } }),
      '--subject',
      'joe',
    ]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^revoke: cannot reach the Redis store/);
  });

  it('runs from the command line and reports a missing --config as a configuration problem', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await login('alice');
      expect(await main(['revoke', '--config', configFile, '--subject', 'alice'])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toMatch(/revoked [1-9]\d* token famil(y|ies) of subject "alice"/);
      expect(await main(['revoke', '--subject', 'alice'])).toBe(2);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain('--config: a configuration file is required');
      expect(await main(['help'])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toContain('revoke --config FILE --subject USER | --token TOKEN');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
