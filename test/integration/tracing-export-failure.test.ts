/**
 * A collector that is down (docs/operations.md, "Tracing"): requests are answered as ever, and
 * the failed export is one warning in the log (`"event":"tracing_export"`) that names no
 * credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { deadPort, startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { waitFor } from '../support/wait-for.js';

let upstream: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  gw = await startGateway({
    upstream: upstream.url,
    config: { tracing: { enabled: true, endpoint: `http://127.0.0.1:${await deadPort()}/v1/traces` } },
  });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('an unreachable collector', () => {
  it('costs the spans and a warning, never the request', async () => {
    const res = await postForm(gw.tokenUrl, `grant_type=password&username=joe&password=${encodeURIComponent(USERS.joe.password)}`, {
      authorization: basicAuth(),
    });
    expect(res.status).toBe(200);
    const echo = await fetch(`${gw.url}/hello`, { headers: { authorization: `Bearer ${String(res.json.access_token)}` } });
    expect(echo.status).toBe(200);
    await waitFor(
      async () => {
        await gw.gateway.tracing?.flush();
        return gw.logs().some((l) => l.event === 'tracing_export');
      },
      15_000,
      'the export warning',
    );
    const warnings = gw.logs().filter((l) => l.event === 'tracing_export');
    expect(warnings.length).toBe(1);
    expect(warnings[0]?.level).toBe('warn');
    expect(String(warnings[0]?.msg)).toMatch(/^tracing: spans not exported: /);
    const text = JSON.stringify(warnings);
    for (const secret of [USERS.joe.password, CLIENT.secret, String(res.json.access_token), basicAuth()])
      expect(text.includes(secret), secret).toBe(false);
  });
});
