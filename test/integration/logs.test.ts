/** Logs at debug level after a full round of traffic hold no password, secret, token or Authorization value. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  gw = await startGateway({ upstream: upstream.url });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('secrets never reach the log', () => {
  it('logs one completion line per request, without secrets', async () => {
    const tokenUrl = `${gw.url}/as/token.oauth2`;
    const secrets: string[] = [CLIENT.secret, USERS.joe.password, encodeURIComponent(USERS.alice.password), USERS.alice.password, basicAuth()];
    const login = await postForm(tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth() });
    const { access_token: access, refresh_token: refresh } = login.json as { access_token: string; refresh_token: string };
    secrets.push(access, refresh);
    const refreshed = await postForm(tokenUrl, `grant_type=refresh_token&refresh_token=${refresh}`, { authorization: basicAuth() });
    secrets.push(refreshed.json.access_token as string, refreshed.json.refresh_token as string);
    // Reuse of the rotated refresh token: a security event is logged, without the token.
    await postForm(tokenUrl, `grant_type=refresh_token&refresh_token=${refresh}`, { authorization: basicAuth() });
    await postForm(tokenUrl, 'grant_type=password&username=joe&password=wrong-password-123', { authorization: basicAuth() });
    secrets.push('wrong-password-123');
    await postForm(tokenUrl, `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}&client_id=app&client_secret=${CLIENT.secret}`);
    await fetch(`${gw.url}/api`, { headers: { authorization: `Bearer ${refreshed.json.access_token as string}` } });
    await fetch(`${gw.url}/api`, { headers: { authorization: 'Bearer not-a-real-token-but-secret-looking' } });
    secrets.push('not-a-real-token-but-secret-looking');

    await expect.poll(() => gw.logs().filter((l) => l.msg === 'request').length).toBeGreaterThanOrEqual(7);
    const text = gw.logText();
    for (const secret of secrets) expect(text, 'a secret leaked into the log').not.toContain(secret);
    expect(text).not.toMatch(/authorization"\s*:\s*"(?!\[redacted\])/i);

    const lines = gw.logs().filter((l) => l.msg === 'request');
    expect(lines[0]).toMatchObject({ method: 'POST', route: 'token', status: 200, clientId: 'app', sub: 'joe', grantType: 'password' });
    expect(typeof lines[0]?.ms).toBe('number');
    expect(typeof lines[0]?.reqId).toBe('string');
    expect(gw.logs().some((l) => l.event === 'refresh_token_reuse')).toBe(true);
  });
});

describe('log.requests: errors', () => {
  it('writes completion lines only for answers of 400 and above', async () => {
    const quiet = await startGateway({ upstream: upstream.url, config: { log: { level: 'info', requests: 'errors' } } });
    try {
      const login = await postForm(`${quiet.url}/as/token.oauth2`, `grant_type=password&username=joe&password=${USERS.joe.password}`, { authorization: basicAuth() });
      expect(login.status).toBe(200);
      expect((await fetch(`${quiet.url}/api`, { headers: { authorization: `Bearer ${login.json.access_token as string}` } })).status).toBe(200);
      expect((await fetch(`${quiet.url}/api`)).status).toBe(401);
      await expect.poll(() => quiet.logs().filter((l) => l.msg === 'request').length).toBe(1);
      expect(quiet.logs().filter((l) => l.msg === 'request')[0]).toMatchObject({ status: 401, method: 'GET' });
    } finally {
      await quiet.stop();
    }
  });
});
