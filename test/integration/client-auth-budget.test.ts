/**
 * Client authentication under attack, end to end (real gateway, real HTTP): failed client
 * authentication counts in the per-IP failure budget and an IP over it is refused with the
 * same RFC 6749 §5.2 invalid_client answer as a wrong secret; hash verifications beyond the
 * cap and its queue answer 503 temporarily_unavailable with Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let upstream: Upstream;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  upstream = await startEchoUpstream();
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
});

async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({
    upstream: upstream.url,
    config: { server: { trustProxy: true }, oauth: { clientAuthCacheSeconds: 0 }, ...config },
  });
  gateways.push(gw);
  return gw;
}

const login = (gw: TestGateway, ip: string, authorization: string) =>
  postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${encodeURIComponent(USERS.joe.password)}`, {
    authorization,
    'x-forwarded-for': ip,
  });
const BAD_CLIENT = '{"error":"invalid_client","error_description":"client authentication failed"}';

describe('failed client authentication is budgeted per IP', () => {
  it('wrong secrets and unknown ids use up the budget; then the right secret gets the same invalid_client; other IPs are not affected', async () => {
    const gw = await gateway({ lockout: { ipMaxFailuresPerMinute: 3 } });
    const ip = '203.0.113.50';
    expect((await login(gw, ip, basicAuth(CLIENT.id, 'wrong'))).text).toBe(BAD_CLIENT);
    expect((await login(gw, ip, basicAuth('no-such-client', 'x'))).text).toBe(BAD_CLIENT);
    expect((await login(gw, ip, basicAuth(CLIENT.id, 'wrong again'))).text).toBe(BAD_CLIENT);
    const refused = await login(gw, ip, basicAuth());
    expect(refused.status).toBe(401);
    expect(refused.text).toBe(BAD_CLIENT);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await login(gw, '203.0.113.51', basicAuth())).status).toBe(200);
    expect(gw.logs().filter((l) => l.event === 'ip_blocked' && l.clientIp === ip)).toHaveLength(1);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/ropc_lockouts_total\{kind="ip"\} 1/);
  });
});

describe('hash verifications are capped', () => {
  it('answers 503 temporarily_unavailable with Retry-After beyond hashConcurrency and hashQueue', async () => {
    const gw = await gateway({ security: { hashConcurrency: 1, hashQueue: 0 } });
    // Every request a wrong secret from its own IP (no budget involved): each needs an argon2id verification.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(gw, `203.0.113.${100 + i}`, basicAuth(CLIENT.id, `wrong-${i}`))),
    );
    const unavailable = answers.filter((a) => a.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 503 || a.text === BAD_CLIENT)).toBe(true);
    for (const a of unavailable) {
      expect(a.json).toMatchObject({ error: 'temporarily_unavailable' });
      expect(a.headers.get('retry-after')).toBe('1');
    }
    // The slots are free again afterwards.
    expect((await login(gw, '203.0.113.99', basicAuth())).status).toBe(200);
  });
});
