/**
 * Python Authlib (Debian python3-authlib 1.2, run with /usr/bin/python3): RFC 8414 metadata
 * validation, client_secret_basic (sent raw by Authlib 1.2), client_secret_post, a public
 * client (none), introspection and revocation. Driver: clients/authlib_driver.py.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIDENTIAL, driverEnv, PUBLIC, runDriver, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;
let seen: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  gw = await startInteropGateway();
  const script = fileURLToPath(new URL('./clients/authlib_driver.py', import.meta.url));
  // Authlib refuses http:// issuers and endpoints unless told; the gateway here is loopback HTTP.
  seen = (await runDriver('/usr/bin/python3', [script], { ...driverEnv(gw), AUTHLIB_INSECURE_TRANSPORT: '1' })) as typeof seen;
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

describe('authlib', () => {
  it('validates the RFC 8414 metadata, which it would not with response_types_supported [] or absent', () => {
    expect(seen.discovery).toMatchObject({ validate: 'ok', token_endpoint: gw.tokenUrl });
    expect(seen.discovery?.with_empty_response_types).toContain('response_types_supported');
    expect(seen.discovery?.without_response_types).toContain('response_types_supported');
  });

  const flows: Array<[string, string, boolean]> = [
    ['basic_raw', CONFIDENTIAL.id, true],
    ['body', CONFIDENTIAL.id, true],
    ['public_none', PUBLIC.id, false],
  ];
  for (const [flow, clientId, introspects] of flows) {
    it(`${flow}: password grant, proxy, refresh, ${introspects ? 'introspection, ' : ''}revocation`, () => {
      const step = seen[flow] ?? {};
      expect(step.password).toEqual({ token_type: 'Bearer', has_refresh: true });
      expect(step.resource).toEqual({ status: 200, subject: USER.username, client_id: clientId });
      expect(step.refresh).toEqual({ new_access: true });
      expect(step.resource_after_refresh).toEqual({ status: 200, subject: USER.username, client_id: clientId });
      if (introspects) expect(step.introspection).toMatchObject({ status: 200, active: true, client_id: clientId, sub: USER.username });
      expect(step.revocation).toEqual({ status: 200 });
      expect(step.resource_after_revocation).toEqual({ status: 401 });
    });
  }

  it('raises invalid_client for a wrong secret, in the body and in Basic', () => {
    expect(seen.wrong_secret_body).toMatchObject({ error: 'invalid_client' });
    expect(seen.wrong_secret_basic).toMatchObject({ error: 'invalid_client' });
  });
});
