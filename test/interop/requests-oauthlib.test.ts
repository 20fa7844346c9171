/**
 * Python requests-oauthlib (Debian python3-requests-oauthlib, run with /usr/bin/python3): raw
 * Basic credentials, client_secret_post, a public client with an empty Basic password and with
 * client_id in the body. Driver: clients/requests_oauthlib_driver.py. docs/client-libraries.md.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIDENTIAL, driverEnv, PUBLIC, runDriver, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;
let seen: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  gw = await startInteropGateway();
  const script = fileURLToPath(new URL('./clients/requests_oauthlib_driver.py', import.meta.url));
  // oauthlib refuses http:// unless told; the gateway here listens on plain loopback HTTP.
  seen = (await runDriver('/usr/bin/python3', [script], { ...driverEnv(gw), OAUTHLIB_INSECURE_TRANSPORT: '1' })) as typeof seen;
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

const flows: Array<[string, string]> = [
  ['basic_raw', CONFIDENTIAL.id],
  ['body', CONFIDENTIAL.id],
  ['public_basic_empty_password', PUBLIC.id],
  ['public_body', PUBLIC.id],
];

describe('requests-oauthlib', () => {
  for (const [flow, clientId] of flows) {
    it(`${flow}: password grant, proxy, refresh, revocation`, () => {
      const step = seen[flow] ?? {};
      expect(step.password).toEqual({ token_type: 'Bearer', has_refresh: true });
      expect(step.resource).toEqual({ status: 200, subject: USER.username, client_id: clientId });
      expect(step.refresh).toEqual({ new_access: true });
      expect(step.resource_after_refresh).toEqual({ status: 200, subject: USER.username, client_id: clientId });
      expect(step.revocation).toEqual({ status: 200 });
      expect(step.resource_after_revocation).toEqual({ status: 401 });
      if (clientId === CONFIDENTIAL.id)
        expect(step.introspection).toMatchObject({ status: 200, active: true, client_id: clientId, sub: USER.username });
    });
  }

  it('raises InvalidClientError for a wrong secret in the body', () => {
    expect(seen.wrong_secret).toEqual({ raised: 'InvalidClientError', error: 'invalid_client' });
  });
});
