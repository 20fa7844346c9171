/**
 * JWT access tokens across replicas (docs/token-formats.md): two gateway processes (the real
 * CLI, `ropc-gateway start`, from dist/) sharing one redis-server and the same key files.
 *
 * - Key rotation by the documented procedure (publish the next key, promote it, retire the
 *   old one), one process restarted at a time: every token issued so far is accepted by every
 *   running replica and verified by jose against each replica's JWKS, at every step.
 * - Revocation: a JWT revoked on replica P is refused by replica Q from its memory (the
 *   revocation feed; Q's store metrics show no lookup), and when Q's feed connection is cut
 *   Q falls back to the store, so a revocation it never heard of still counts. A JWT that
 *   lives longer than Q's own oauth.accessTokenTtl (P's is longer: a rolling change of it)
 *   is checked in the store, as Q would forget its revocation while it still lives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { basicAuth, CLIENT, postForm, USERS } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';
import { hashSecret } from '../../src/security/password-hash.js';

const ISSUER = 'http://gateway.test';
const PREFIX = 'jwtrep:';

let upstream: Upstream;
let redis: RedisProcess;
let dir = '';
let base: Record<string, unknown> = {};
const keys: Record<'k1' | 'k2', string> = { k1: '', k2: '' };

interface Replica {
  readonly url: string;
  readonly adminUrl: string;
  stop(): Promise<void>;
}
const running = new Set<Replica>();

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'ropc-jwt-rep-'));
  for (const name of ['k1', 'k2'] as const) {
    keys[name] = join(dir, `${name}.pem`);
    writeFileSync(keys[name], generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  }
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(
    usersFile,
    stringify({ users: [{ username: 'joe', passwordHash: await hashSecret(USERS.joe.password), groups: ['editors'] }] }),
  );
  base = {
    server: { host: '127.0.0.1', port: 0, drainSeconds: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level: 'info', requests: 'errors' },
    store: { type: 'redis', redis: { url: redis.url, keyPrefix: PREFIX } },
    upstream: { url: upstream.url },
    oauth: { issuer: ISSUER, accessTokenFormat: 'jwt' },
    clients: [{ id: CLIENT.id, secretHash: await hashSecret(CLIENT.secret), scopes: ['read'], defaultScopes: ['read'] }],
    validators: [{ name: 'local', type: 'file', path: usersFile }],
  };
}, 60_000);
afterAll(async () => {
  await Promise.allSettled([...running].map((r) => r.stop()));
  await upstream?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let configs = 0;
/** A gateway process with `keyFiles` (the first signs, all are published) and `oauth` settings over the base ones. */
async function startReplica(keyFiles: readonly string[], oauth: Record<string, unknown> = {}): Promise<Replica> {
  const file = join(dir, `gateway-${++configs}.yaml`);
  writeFileSync(file, stringify({ ...base, oauth: { ...(base.oauth as object), ...oauth, signing: { keyFiles } } }));
  const child: ChildProcess = spawn(process.execPath, ['bin/ropc-gateway.js', 'start', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const listening = () => out.split('\n').find((l) => l.includes('"ropc-gateway listening"'));
  await waitFor(() => listening() !== undefined || child.exitCode !== null, 30_000, 'a replica to listen');
  const line = listening();
  if (!line) throw new Error(`the replica did not start: ${out.slice(0, 2000)}`);
  const { port, adminPort } = JSON.parse(line) as { port: number; adminPort: number };
  const replica: Replica = {
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    async stop() {
      running.delete(replica);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  running.add(replica);
  return replica;
}

async function login(replica: Replica): Promise<string> {
  const res = await postForm(`${replica.url}/as/token.oauth2`, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
    authorization: basicAuth(),
  });
  expect(res.status).toBe(200);
  return (res.json as { access_token: string }).access_token;
}

const call = async (replica: Replica, token: string): Promise<number> =>
  (await fetch(`${replica.url}/api`, { headers: { authorization: `Bearer ${token}` } })).status;

/** Store lookups of JWT records the replica made (ropc_store_duration_seconds, operation getAccessByRef). */
async function storeLookups(replica: Replica): Promise<number> {
  const text = await (await fetch(`${replica.adminUrl}/metrics`)).text();
  return Number(/ropc_store_duration_seconds_count\{operation="getAccessByRef",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('key rotation across two processes', () => {
  it('publish next, promote, retire: no token is refused by a running replica or by jose at any step', async () => {
    const tokens: string[] = [];
    let p = await startReplica([keys.k1]);
    let q = await startReplica([keys.k1]);
    const everyTokenEverywhere = async (step: string): Promise<void> => {
      for (const replica of [p, q]) {
        const jwks = createRemoteJWKSet(new URL(`${replica.url}/.well-known/jwks.json`));
        for (const token of tokens) {
          expect(await call(replica, token), `${step}: ${replica.url}`).toBe(200);
          await jwtVerify(token, jwks, { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' });
        }
      }
    };
    /** Restarts one replica with `keyFiles` while the other keeps answering every token. */
    const restart = async (which: 'p' | 'q', keyFiles: string[]): Promise<void> => {
      const other = which === 'p' ? q : p;
      const failures: number[] = [];
      let rolling = true;
      const probe = (async () => {
        while (rolling) for (const t of tokens) if ((await call(other, t)) !== 200) failures.push(1);
      })();
      await (which === 'p' ? p : q).stop();
      const next = await startReplica(keyFiles);
      if (which === 'p') p = next;
      else q = next;
      rolling = false;
      await probe;
      expect(failures, `requests to the other replica while ${which} restarted`).toEqual([]);
    };

    tokens.push(await login(p), await login(q));
    await everyTokenEverywhere('start');
    const k1 = decodeProtectedHeader(tokens[0]!).kid;

    // 1. Publish the next key (listed after the current one) on every replica.
    await restart('p', [keys.k1, keys.k2]);
    await everyTokenEverywhere('p publishes k2');
    await restart('q', [keys.k1, keys.k2]);
    tokens.push(await login(p), await login(q));
    await everyTokenEverywhere('both publish k2');
    expect(new Set(tokens.map((t) => decodeProtectedHeader(t).kid))).toEqual(new Set([k1]));

    // 2. Promote it (moved first): P signs with k2 while Q still signs with k1.
    await restart('p', [keys.k2, keys.k1]);
    tokens.push(await login(p), await login(q));
    const [fromP, fromQ] = tokens.slice(-2).map((t) => decodeProtectedHeader(t).kid);
    expect(fromP).not.toBe(k1);
    expect(fromQ).toBe(k1);
    await everyTokenEverywhere('p signs with k2, q with k1');
    await restart('q', [keys.k2, keys.k1]);
    tokens.push(await login(q));
    await everyTokenEverywhere('both sign with k2');

    // 3. Retire k1 only once its tokens have expired: removed early, they are refused, which
    //    is why docs/token-formats.md waits oauth.accessTokenTtl first.
    await restart('p', [keys.k2]);
    const k1Token = tokens.find((t) => decodeProtectedHeader(t).kid === k1)!;
    const k2Token = tokens.find((t) => decodeProtectedHeader(t).kid !== k1)!;
    expect(await call(p, k1Token)).toBe(401);
    expect(await call(p, k2Token)).toBe(200);
    expect(await call(q, k1Token)).toBe(200);
    await p.stop();
    await q.stop();
  }, 240_000);
});

describe('revocation across two processes', () => {
  it('a JWT revoked on P is refused by Q from memory; with its feed cut, Q asks the store', async () => {
    const p = await startReplica([keys.k1]);
    const q = await startReplica([keys.k1]);
    // Q trusts its memory for tokens issued after its feed was first seen live (+ 5 s for
    // clocks between replicas): see it live, then let that margin pass.
    const early = await login(p);
    expect(await call(q, early)).toBe(200);
    await new Promise((r) => setTimeout(r, 6000));

    const token = await login(p);
    const before = await storeLookups(q);
    expect(await call(q, token)).toBe(200);
    expect(await call(q, token)).toBe(200);
    expect(await storeLookups(q)).toBe(before);

    expect((await postForm(`${p.url}/as/revoke_token.oauth2`, `token=${token}`, { authorization: basicAuth() })).status).toBe(200);
    await expect.poll(() => call(q, token), { timeout: 5000, interval: 10 }).toBe(401);
    // Refused from the revocation Q heard, not by asking the store.
    expect(await storeLookups(q)).toBe(before);

    // A revocation Q cannot hear: the record deleted behind the feed's back. While the feed
    // stays up Q keeps trusting its memory (the residual docs/token-formats.md bounds); once
    // the feed connection is lost, Q asks the store and refuses the token.
    const unheard = await login(p);
    expect(await call(q, unheard)).toBe(200);
    const admin = new Redis(redis.url);
    try {
      const [, payload] = unheard.split('.') as [string, string];
      const { sid, jti } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sid: string; jti: string };
      expect(await admin.del(`${PREFIX}{${sid}}:at:${jti}`)).toBe(1);
      expect(await call(q, unheard)).toBe(200);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await expect.poll(() => call(q, unheard), { timeout: 10_000, interval: 20 }).toBe(401);
      expect(await storeLookups(q)).toBeGreaterThan(before);
      // P refuses it too (it shares the store, and its own feed was cut as well).
      await expect.poll(() => call(p, unheard), { timeout: 10_000, interval: 20 }).toBe(401);
    } finally {
      admin.disconnect();
    }
    // Other tokens still work through the store path, then through memory again.
    expect(await call(q, early)).toBe(200);
    await p.stop();
    await q.stop();
  }, 120_000);
});

describe('replicas with different access token lifetimes (a rolling change of oauth.accessTokenTtl)', () => {
  it("checks in the store a JWT that outlives the replica's memory of revocations", async () => {
    const p = await startReplica([keys.k1], { accessTokenTtl: 3600 });
    const q = await startReplica([keys.k1], { accessTokenTtl: 60 });
    // Past Q's liveness margin (see above), so only the lifetime sends the token to the store.
    expect(await call(q, await login(p))).toBe(200);
    await new Promise((r) => setTimeout(r, 6000));
    const own = await login(q);
    const before = await storeLookups(q);
    expect(await call(q, own)).toBe(200);
    expect(await storeLookups(q)).toBe(before);

    // P's token lives an hour; Q remembers a revocation for 60 s + 5 s. A revocation Q would
    // have forgotten is simulated by deleting the record: Q must see it in the store.
    const long = await login(p);
    expect(await call(q, long)).toBe(200);
    expect(await storeLookups(q)).toBeGreaterThan(before);
    const admin = new Redis(redis.url);
    try {
      const [, payload] = long.split('.') as [string, string];
      const { sid, jti } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sid: string; jti: string };
      expect(await admin.del(`${PREFIX}{${sid}}:at:${jti}`)).toBe(1);
    } finally {
      admin.disconnect();
    }
    expect(await call(q, long)).toBe(401);
    expect(await call(q, own)).toBe(200);
    await p.stop();
    await q.stop();
  }, 120_000);
});
