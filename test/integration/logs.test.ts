/** Logs at debug level after a full round of traffic hold no password, secret, token or Authorization value. */
import { describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';

const env = useGateway();

describe('secrets never reach the log', () => {
  it('logs one completion line per request, without secrets', async () => {
    const secrets: string[] = [
      CLIENT.secret,
      USERS.joe.password,
      encodeURIComponent(USERS.alice.password),
      USERS.alice.password,
      basicAuth(),
    ];
    const login = await env.token(`grant_type=password&username=joe&password=${USERS.joe.password}`);
    const { access_token: access, refresh_token: refresh } = login.json as { access_token: string; refresh_token: string };
    secrets.push(access, refresh);
    const refreshed = await env.token(`grant_type=refresh_token&refresh_token=${refresh}`);
    secrets.push(refreshed.json.access_token as string, refreshed.json.refresh_token as string);
    // Reuse of the rotated refresh token: a security event is logged, without the token.
    await env.token(`grant_type=refresh_token&refresh_token=${refresh}`);
    await env.token('grant_type=password&username=joe&password=wrong-password-123');
    secrets.push('wrong-password-123');
    await postForm(
      env.gw.tokenUrl,
      `grant_type=password&username=alice&password=${encodeURIComponent(USERS.alice.password)}&client_id=app&client_secret=${CLIENT.secret}`,
    );
    await fetch(`${env.gw.url}/api`, { headers: { authorization: `Bearer ${refreshed.json.access_token as string}` } });
    await fetch(`${env.gw.url}/api`, { headers: { authorization: 'Bearer not-a-real-token-but-secret-looking' } });
    secrets.push('not-a-real-token-but-secret-looking');

    await expect.poll(() => env.gw.logs().filter((l) => l.msg === 'request').length).toBeGreaterThanOrEqual(7);
    const text = env.gw.logText();
    for (const secret of secrets) expect(text, 'a secret leaked into the log').not.toContain(secret);
    expect(text).not.toMatch(/authorization"\s*:\s*"(?!\[redacted\])/i);

    const lines = env.gw.logs().filter((l) => l.msg === 'request');
    expect(lines[0]).toMatchObject({ method: 'POST', route: 'token', status: 200, clientId: 'app', sub: 'joe', grantType: 'password' });
    expect(typeof lines[0]?.ms).toBe('number');
    expect(typeof lines[0]?.reqId).toBe('string');
    expect(env.gw.logs().some((l) => l.event === 'refresh_token_reuse')).toBe(true);
  });
});

describe('log.requests: errors', () => {
  it('writes completion lines only for answers of 400 and above', async () => {
    const quiet = await startGateway({ upstream: env.upstream.url, config: { log: { level: 'info', requests: 'errors' } } });
    try {
      const login = await postForm(quiet.tokenUrl, `grant_type=password&username=joe&password=${USERS.joe.password}`, {
        authorization: basicAuth(),
      });
      expect(login.status).toBe(200);
      expect((await fetch(`${quiet.url}/api`, { headers: { authorization: `Bearer ${login.json.access_token as string}` } })).status).toBe(
        200,
      );
      expect((await fetch(`${quiet.url}/api`)).status).toBe(401);
      await expect.poll(() => quiet.logs().filter((l) => l.msg === 'request').length).toBe(1);
      expect(quiet.logs().filter((l) => l.msg === 'request')[0]).toMatchObject({ status: 401, method: 'GET' });
    } finally {
      await quiet.stop();
    }
  });
});
