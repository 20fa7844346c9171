/**
 * Load with faults (docs/security.md): a bounded run of mixed traffic — logins good and
 * bad, refreshes, revocations, resource requests with valid, revoked, forged and missing
 * tokens — through a gateway on a real Redis (with the resource-path cache on), while Redis is
 * stopped and started again once, empty (a restart without persistence loses every token).
 *
 * Every request carries an `x-test-id`; the upstream records what it received. Afterwards:
 * - no request without a valid token reached the upstream: forged and missing tokens never;
 *   a token never after its revocation answered 200, nor after Redis lost it; every request
 *   the upstream saw carried exactly the identity headers of the token it was sent with;
 * - every failure was a clean one: 401 with a Bearer challenge, 503 `temporarily_unavailable`
 *   with Retry-After, 400 `invalid_grant` for bad logins — never a 5xx other than 503, never a
 *   hang, never a reset connection;
 * - the cases that must be seen are driven explicitly under the load (a valid token passes and a
 *   revoked one is refused before the outage, 503 during it, the lost tokens refused after it);
 * - the gateway recovered without a restart, holds no extra connection, and its RSS and heap
 *   are back near their baseline (generous bounds: the point is "no leak per request").
 */
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { connectionsOf, metricValue, settle, sleep } from './support.js';

/** The phases of the run, ms: traffic, then Redis down for OUTAGE_MS, then traffic again. */
const BEFORE_MS = 6000;
const OUTAGE_MS = 3000;
const AFTER_MS = 7000;
const WORKERS = 6;
/** Each worker starts a step at most this often, ms. */
const PACE_MS = 15;
/** A hard cap on requests, whatever the machine's speed. */
const MAX_REQUESTS = 12_000;
/** A request that has not been answered in this time is a hang, i.e. a failure. */
const REQUEST_TIMEOUT_MS = 6000;
/**
 * Requests sent this long after Redis exited may not be served from what it held. Before that
 * the cache may still answer for a token that was valid when Redis went away (it forgets
 * everything once the revocation feed is lost, within milliseconds); a generous bound, as the
 * outage lasts three times as long and every token it lost is checked after it too.
 */
const DETECTION_MS = 1000;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface Token {
  readonly value: string;
  readonly refresh: string;
  readonly user: 'joe' | 'alice';
  readonly scope: string;
  /** ms, when the token response arrived. */
  readonly issuedAt: number;
  /** ms, when a revocation of it (or of its family) was answered 200. */
  revokedAt?: number;
  /** Its refresh token was used (and so rotated). */
  rotated: boolean;
}

type Kind = 'valid' | 'revoked' | 'forged' | 'none' | 'login' | 'bad-login' | 'refresh' | 'revoke';

interface Sent {
  readonly id: number;
  readonly kind: Kind;
  readonly token?: Token;
  readonly sentAt: number;
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly at: number;
}

let gw: TestGateway;
let upstream: Upstream;
let redis: RedisProcess;
const received = new Map<number, Received>();
let unmarked = 0;

beforeAll(async () => {
  upstream = await startEchoUpstream((req, res) => {
    const id = Number(req.headers['x-test-id']);
    if (Number.isInteger(id)) received.set(id, { headers: req.headers, at: Date.now() });
    else unmarked += 1;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  redis = await startRedis();
  gw = await startGateway({
    upstream: upstream.url,
    redisUrl: redis.url,
    config: {
      log: { level: 'warn' },
      store: { cacheTtlMs: 5000 },
      // Bad logins must not lock the good users out, nor the (shared loopback) client IP.
      lockout: { maxFailures: 100_000, ipMaxFailuresPerMinute: 100_000 },
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await redis?.stop();
});

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function memory(): { rss: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

describe('load with a Redis restart', () => {
  it('lets nothing through without a valid token, fails cleanly, recovers, and gives its memory back', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS + 2 });
    const { port } = new URL(gw.url);
    const sent: Sent[] = [];
    const tokens: Token[] = [];
    /** Tokens of the explicit probes below, kept out of the load's reach. */
    const probeTokens: Token[] = [];
    let nextId = 0;

    const send = (
      kind: Kind,
      method: string,
      path: string,
      headers: Record<string, string>,
      body?: string,
      token?: Token,
    ): Promise<Sent> => {
      const record: Sent = { id: nextId++, kind, sentAt: Date.now(), status: 0, body: '', headers: {}, ...(token ? { token } : {}) };
      sent.push(record);
      return new Promise((resolve) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method,
            path,
            agent,
            headers: { ...headers, 'x-test-id': String(record.id) },
            timeout: REQUEST_TIMEOUT_MS,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              record.status = res.statusCode ?? 0;
              record.headers = res.headers;
              record.body = Buffer.concat(chunks).toString('utf8');
              resolve(record);
            });
            res.on('error', () => resolve(record));
          },
        );
        // A hang or a reset leaves status 0: counted as a failure below.
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (err) => {
          record.body = `client error: ${err.message}`;
          resolve(record);
        });
        req.end(body);
      });
    };
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth() };
    const password = { joe: USERS.joe.password, alice: USERS.alice.password };

    /** Logs in; the token joins the load's pool unless `own` (a probe's token, which the load must not revoke). */
    const login = async (user: 'joe' | 'alice', own = false): Promise<Token | undefined> => {
      const r = await send(
        'login',
        'POST',
        '/as/token.oauth2',
        form,
        `grant_type=password&username=${user}&password=${encodeURIComponent(password[user])}`,
      );
      if (r.status !== 200) return undefined;
      const json = JSON.parse(r.body) as { access_token: string; refresh_token: string; scope?: string };
      const token: Token = {
        value: json.access_token,
        refresh: json.refresh_token,
        user,
        scope: json.scope ?? 'read',
        issuedAt: Date.now(),
        rotated: false,
      };
      (own ? probeTokens : tokens).push(token);
      return token;
    };
    const resource = (kind: Kind, token?: Token, value?: string) =>
      send(kind, 'GET', `/api/items/${nextId}`, value === undefined ? {} : { authorization: `Bearer ${value}` }, undefined, token);

    // Logins cost an argon2id verification each: at most two at a time.
    let loginsInFlight = 0;
    const random = prng(0x5eed);
    const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(random() * list.length)];
    const step = async (): Promise<void> => {
      const r = random();
      const live = tokens.filter((t) => t.revokedAt === undefined);
      // Mostly recent tokens: after the restart the old ones are all gone.
      const recent = live.slice(-20);
      const revoked = tokens.filter((t) => t.revokedAt !== undefined);
      if (r < 0.1 || live.length === 0) {
        if (loginsInFlight >= 2) return void (await sleep(5));
        loginsInFlight += 1;
        try {
          if (r < 0.07 || live.length === 0) await login(random() < 0.5 ? 'joe' : 'alice');
          else
            await send(
              'bad-login',
              'POST',
              '/as/token.oauth2',
              form,
              `grant_type=password&username=${random() < 0.5 ? 'joe' : 'nobody'}&password=wrong-${nextId}`,
            );
        } finally {
          loginsInFlight -= 1;
        }
      } else if (r < 0.13) {
        const t = pick(recent.filter((x) => !x.rotated));
        if (!t) return;
        const res = await send('refresh', 'POST', '/as/token.oauth2', form, `grant_type=refresh_token&refresh_token=${t.refresh}`, t);
        if (res.status === 200) {
          // Not refreshed again: presenting a rotated refresh token would revoke the family.
          t.rotated = true;
          const json = JSON.parse(res.body) as { access_token: string; refresh_token: string; scope?: string };
          tokens.push({
            value: json.access_token,
            refresh: json.refresh_token,
            user: t.user,
            scope: json.scope ?? t.scope,
            issuedAt: Date.now(),
            rotated: false,
          });
        }
      } else if (r < 0.17) {
        const t = pick(recent) as Token;
        // Revoking a (current) refresh token revokes its whole family; an access token only itself.
        const byRefresh = !t.rotated && random() < 0.5;
        const res = await send('revoke', 'POST', '/as/revoke_token.oauth2', form, `token=${byRefresh ? t.refresh : t.value}`, t);
        if (res.status === 200) {
          const now = Date.now();
          const family = t.value.slice(0, 22);
          for (const other of tokens) if (other === t || (byRefresh && other.value.slice(0, 22) === family)) other.revokedAt ??= now;
        }
      } else if (r < 0.67) {
        const t = pick(recent) as Token;
        await resource('valid', t, t.value);
      } else if (r < 0.77) {
        const t = pick(revoked);
        if (t) await resource('revoked', t, t.value);
      } else if (r < 0.9) {
        await resource(
          'forged',
          undefined,
          random() < 0.5 ? `${(pick(live) as Token).value.slice(0, 22)}${'A'.repeat(43)}` : `forged-${nextId}`,
        );
      } else {
        await resource('none');
      }
    };

    await login('joe');
    await login('alice');
    const baselineConnections = await connectionsOf(gw.gateway.server);
    const baseline = memory();

    const started = Date.now();
    let redisDownAt = Infinity;
    let redisUpAt = Infinity;
    const deadline = started + BEFORE_MS + OUTAGE_MS + AFTER_MS;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline && nextId < MAX_REQUESTS) {
        const begun = Date.now();
        await step();
        // Paced (at most WORKERS / PACE_MS requests a second), so every phase gets its share
        // of the traffic on a fast machine and the rest of the machine keeps some CPU.
        await sleep(Math.max(1, PACE_MS - (Date.now() - begun)));
      }
    };
    // The cases the run must show are driven here explicitly, under the load, rather than
    // counted from what the load happened to send (how much of it gets through depends on the
    // machine's speed, not on the gateway's behaviour).
    const probes: Record<'validBefore' | 'revokedBefore' | 'duringOutage' | 'loginDuringOutage', Sent | undefined> = {
      validBefore: undefined,
      revokedBefore: undefined,
      duringOutage: undefined,
      loginDuringOutage: undefined,
    };
    let lostProbe: Token | undefined;
    const fault = (async () => {
      await sleep(BEFORE_MS);
      // Before the outage: a valid token passes, a revoked one is refused.
      lostProbe = await login('alice', true);
      const revokedProbe = await login('joe', true);
      if (lostProbe && revokedProbe) {
        probes.validBefore = await resource('valid', lostProbe, lostProbe.value);
        const revocation = await send('revoke', 'POST', '/as/revoke_token.oauth2', form, `token=${revokedProbe.value}`, revokedProbe);
        if (revocation.status === 200) revokedProbe.revokedAt = Date.now();
        probes.revokedBefore = await resource('revoked', revokedProbe, revokedProbe.value);
      }
      await redis.stop();
      redisDownAt = Date.now();
      // During it: the resource path answers 503 once the cache has let go (within DETECTION_MS,
      // checked for every request below), and so does a login.
      const outageEnds = redisDownAt + OUTAGE_MS;
      while (lostProbe && Date.now() < outageEnds && probes.duringOutage?.status !== 503) {
        probes.duringOutage = await resource('valid', lostProbe, lostProbe.value);
        if (probes.duringOutage.status !== 503) await sleep(50);
      }
      probes.loginDuringOutage = await send(
        'login',
        'POST',
        '/as/token.oauth2',
        form,
        `grant_type=password&username=joe&password=${encodeURIComponent(password.joe)}`,
      );
      await sleep(Math.max(0, outageEnds - Date.now()));
      await redis.restart();
      redisUpAt = Date.now();
    })();
    await Promise.all([...Array.from({ length: WORKERS }, worker), fault]);
    const elapsed = Date.now() - started;
    agent.destroy();

    // Recovery without a restart: a fresh login works, and its token passes.
    const freshLogin = async (): Promise<boolean> => {
      await login('joe');
      return (tokens.at(-1)?.issuedAt ?? 0) > redisUpAt;
    };
    await expect.poll(freshLogin, { timeout: 10_000, interval: 250 }).toBe(true);
    const fresh = tokens.at(-1) as Token;
    expect((await resource('valid', fresh, fresh.value)).status).toBe(200);
    agent.destroy();

    // -- What reached the upstream --------------------------------------------------------
    const byId = new Map(sent.map((s) => [s.id, s]));
    expect(unmarked, 'requests without x-test-id reached the upstream').toBe(0);
    const violations: string[] = [];
    for (const [id, got] of received) {
      const s = byId.get(id);
      if (!s) {
        violations.push(`#${id}: not sent by this test`);
        continue;
      }
      const t = s.token;
      if (s.kind !== 'valid' && s.kind !== 'revoked') violations.push(`#${id}: a ${s.kind} request reached the upstream`);
      else if (!t) violations.push(`#${id}: no token`);
      else {
        if (t.revokedAt !== undefined && s.sentAt > t.revokedAt)
          violations.push(`#${id}: sent ${s.sentAt - t.revokedAt} ms after its token was revoked`);
        if (t.issuedAt < redisDownAt && s.sentAt > redisDownAt + DETECTION_MS)
          violations.push(`#${id}: a token Redis lost passed ${s.sentAt - redisDownAt} ms after Redis went down`);
        const h = got.headers;
        if (
          h['x-auth-subject'] !== t.user ||
          h['x-auth-client-id'] !== 'app' ||
          h['x-auth-scope'] !== t.scope ||
          h.authorization !== undefined
        ) {
          violations.push(
            `#${id}: identity ${JSON.stringify([h['x-auth-subject'], h['x-auth-client-id'], h['x-auth-scope'], h.authorization])} for ${t.user}`,
          );
        }
      }
      if (s.status !== 200 && s.status !== 0) violations.push(`#${id}: reached the upstream but answered ${s.status}`);
    }
    expect(violations.slice(0, 10), `${violations.length} requests reached the upstream that must not have`).toEqual([]);
    // And the converse: every 200 on the resource path went through the upstream.
    const resource200 = sent.filter((s) => (s.kind === 'valid' || s.kind === 'revoked') && s.status === 200);
    expect(resource200.filter((s) => !received.has(s.id)).map((s) => s.id)).toEqual([]);

    // -- Every failure was clean ----------------------------------------------------------
    const unclean: string[] = [];
    for (const s of sent) {
      const isResource = s.kind === 'valid' || s.kind === 'revoked' || s.kind === 'forged' || s.kind === 'none';
      const allowed = isResource
        ? [200, 401, 503]
        : s.kind === 'revoke'
          ? [200, 503]
          : s.kind === 'bad-login'
            ? [400, 503]
            : [200, 400, 503];
      if (!allowed.includes(s.status)) {
        unclean.push(`#${s.id} ${s.kind}: ${s.status} ${s.body.slice(0, 80)}`);
        continue;
      }
      if (s.status === 503) {
        if (
          s.body !== '{"error":"temporarily_unavailable","error_description":"the service is temporarily unavailable, retry later"}' ||
          !s.headers['retry-after']
        )
          unclean.push(`#${s.id} ${s.kind}: unclean 503 ${s.body}`);
      } else if (s.status === 401) {
        if (!String(s.headers['www-authenticate']).startsWith('Bearer realm='))
          unclean.push(`#${s.id} ${s.kind}: 401 without a Bearer challenge`);
      } else if (s.status === 400 && JSON.parse(s.body).error !== 'invalid_grant') unclean.push(`#${s.id} ${s.kind}: 400 ${s.body}`);
      // The outage must never turn a bad login into anything but a 400 or a 503, nor a forged token into a pass.
      if ((s.kind === 'forged' || s.kind === 'none') && s.status === 200) unclean.push(`#${s.id} ${s.kind}: 200`);
    }
    expect(unclean.slice(0, 10), `${unclean.length} unclean answers`).toEqual([]);

    // What the load did, for whoever reads the log (its amount depends on the machine).
    const count = (pred: (s: Sent) => boolean) => sent.filter(pred).length;
    const summary = {
      requests: sent.length,
      seconds: Math.round(elapsed / 100) / 10,
      upstream: received.size,
      ok: count((s) => s.status === 200),
      unauthorized: count((s) => s.status === 401),
      unavailable: count((s) => s.status === 503),
      badLogins: count((s) => s.kind === 'bad-login'),
      revoked: tokens.filter((t) => t.revokedAt !== undefined).length,
    };
    console.log('load with faults:', JSON.stringify(summary));
    // The probes: before the outage a valid token passed and a revoked one was refused; during
    // it the resource path and the token endpoint answered 503 (the body is checked above).
    expect(probes.validBefore?.status).toBe(200);
    expect(probes.revokedBefore?.status).toBe(401);
    expect(probes.duringOutage?.status).toBe(503);
    expect(probes.loginDuringOutage?.status).toBe(503);
    // Tokens Redis lost are refused after the restart: whatever the load happened to send, none
    // passed, and the probe's token and a few of the load's are tried here explicitly.
    const lost = sent.filter((s) => s.kind === 'valid' && s.token !== undefined && s.token.issuedAt < redisDownAt && s.sentAt > redisUpAt);
    expect(lost.filter((s) => s.status === 200)).toEqual([]);
    const lostTokens = [lostProbe as Token, ...tokens.filter((t) => t.issuedAt < redisDownAt).slice(0, 4)];
    for (const t of lostTokens) {
      const res = await fetch(`${gw.url}/api/items/lost`, { headers: { authorization: `Bearer ${t.value}` } });
      expect(res.status).toBe(401);
    }

    // -- Nothing held, memory given back --------------------------------------------------
    expect(
      await settle(
        () => connectionsOf(gw.gateway.server),
        (n) => n <= baselineConnections,
        5000,
      ),
    ).toBeLessThanOrEqual(baselineConnections);
    expect(await metricValue(gw.adminUrl, 'ropc_open_connections{listener="public"}')).toBeLessThanOrEqual(baselineConnections);
    sent.length = 0;
    received.clear();
    // The heap (after a full GC) is what a leak would grow. RSS also keeps what the allocator
    // has not returned of argon2id's 64 MiB per verification — at most security.hashConcurrency
    // (default 4) at once, however many logins the load made and however slowly the machine
    // ran them — so its bound is that cap plus a margin, not a number the load's speed decides.
    const rssBound = baseline.rss + (4 * 64 + 32) * 2 ** 20;
    const after = await settle(memory, (m) => m.rss < rssBound, 5000);
    console.log(
      'memory (MiB):',
      JSON.stringify({
        rssBefore: baseline.rss >> 20,
        rssAfter: after.rss >> 20,
        heapBefore: baseline.heap >> 20,
        heapAfter: after.heap >> 20,
      }),
    );
    expect(after.rss).toBeLessThan(rssBound);
    expect(after.heap).toBeLessThan(baseline.heap + 24 * 2 ** 20);

    // The outage's log lines hold no secret either.
    const text = gw.logText();
    for (const t of [...tokens, ...probeTokens]) {
      expect(text.includes(t.value) || text.includes(t.refresh), 'a token in the log').toBe(false);
    }
    expect(text).not.toContain(USERS.joe.password);
  });
});
