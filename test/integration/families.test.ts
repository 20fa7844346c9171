/**
 * Token families (issue "Token families and rotation"): the absolute family lifetime
 * (`oauth.refreshTokenTtl` counts from the password grant, not from each refresh), with and
 * without rotation, and reuse detection logged as a security event without the token. The
 * concurrent-refresh race, reuse revocation and scope narrowing are in
 * test/compliance/rfc6749-refresh.test.ts; the store semantics in the token store contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { sleep } from '../support/wait-for.js';
import { TestClock } from '../support/test-clock.js';

let upstream: Upstream;
let redis: RedisProcess;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  redis = await startRedis();
});
afterAll(async () => {
  await upstream?.close();
  await redis?.stop();
});

interface Tokens {
  readonly access_token: string;
  readonly refresh_token?: string;
}

function client(gw: TestGateway) {
  const { tokenUrl } = gw;
  return {
    async login(): Promise<Tokens> {
      const res = await postForm(tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
        authorization: basicAuth(),
      });
      expect(res.status).toBe(200);
      return res.json as unknown as Tokens;
    },
    refresh: (token: string) => postForm(tokenUrl, `grant_type=refresh_token&refresh_token=${token}`, { authorization: basicAuth() }),
    introspect: async (token: string) =>
      (await postForm(`${gw.url}/as/introspect.oauth2`, `token=${token}`, { authorization: basicAuth() })).json,
  };
}

// The memory store runs on the gateway's clock, moved here; the Redis store keeps real time
// (key TTLs), so its run is the one that waits.
for (const storeKind of ['memory', 'redis'] as const) {
  describe(`absolute family lifetime (${storeKind} store${storeKind === 'redis' ? ', real time' : ''})`, () => {
    for (const rotation of [true, false]) {
      it(`ends refreshes refreshTokenTtl after the password grant (rotation ${rotation ? 'on' : 'off'})`, async () => {
        const clock = new TestClock();
        const now = storeKind === 'redis' ? () => Date.now() : () => clock.now();
        const elapse = storeKind === 'redis' ? sleep : async (ms: number) => clock.advance(ms);
        const gw = await startGateway({
          upstream: upstream.url,
          ...(storeKind === 'redis' ? { redisUrl: redis.url } : { clock }),
          config: { oauth: { refreshTokenTtl: 2, refreshRotation: rotation } },
        });
        try {
          const c = client(gw);
          const first = await c.login();
          const familyExp = (await c.introspect(first.refresh_token!)).exp as number;
          expect(familyExp).toBe(((await c.introspect(first.access_token)).iat as number) + 2);
          // Lifetimes are whole seconds, so the family has 1–2 s left now: refresh half a second before its end.
          await elapse(familyExp * 1000 - now() - 500);
          const second = await c.refresh(first.refresh_token!);
          expect(second.status).toBe(200);
          // Rotation on: a new refresh token; off: the presented one stays current (none is sent).
          if (rotation) expect(second.json.refresh_token).not.toBe(first.refresh_token);
          else expect(second.json).not.toHaveProperty('refresh_token');
          const current = rotation ? (second.json.refresh_token as string) : first.refresh_token!;
          // The rotated refresh token keeps the family's end: it does not restart the clock.
          expect((await c.introspect(current)).exp).toBe(familyExp);
          await elapse(familyExp * 1000 - now() + 150);
          const late = await c.refresh(current);
          expect(late.status).toBe(400);
          expect(late.json.error).toBe('invalid_grant');
          expect(await c.introspect(current)).toEqual({ active: false });
          // A new password grant starts a new family.
          expect((await c.refresh((await c.login()).refresh_token!)).status).toBe(200);
        } finally {
          await gw.stop();
        }
      });
    }
  });
}

describe('reuse detection (RFC 9700 §4.14.2)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ upstream: upstream.url, redisUrl: redis.url });
  });
  afterAll(() => gw?.stop());

  it('is logged as a security event, without the token', async () => {
    const c = client(gw);
    const first = await c.login();
    const second = await c.refresh(first.refresh_token!);
    expect(second.status).toBe(200);
    expect((await c.refresh(first.refresh_token!)).json.error).toBe('invalid_grant');
    const event = gw.logs().find((l) => l.event === 'refresh_token_reuse');
    expect(event).toMatchObject({ level: 'warn', clientId: 'app', sub: 'joe' });
    for (const token of [
      first.access_token,
      first.refresh_token!,
      second.json.access_token as string,
      second.json.refresh_token as string,
    ]) {
      expect(gw.logText()).not.toContain(token.slice(22));
    }
    // The whole family is gone: the winner's tokens too.
    expect(await c.introspect(second.json.access_token as string)).toEqual({ active: false });
    expect((await c.refresh(second.json.refresh_token as string)).json.error).toBe('invalid_grant');
  });

  it('also when the rotated token is presented at the revocation endpoint', async () => {
    const c = client(gw);
    const first = await c.login();
    const second = await c.refresh(first.refresh_token!);
    await postForm(gw.revocationUrl, `token=${first.refresh_token!}`, { authorization: basicAuth() });
    expect(await c.introspect(second.json.access_token as string)).toEqual({ active: false });
  });
});
