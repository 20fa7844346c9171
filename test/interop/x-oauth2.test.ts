/**
 * Go golang.org/x/oauth2 (Debian golang-golang-x-oauth2-dev, built offline in GOPATH mode
 * against /usr/share/gocode): password grant, refresh through a TokenSource, the proxy, with
 * AuthStyleInHeader, AuthStyleInParams and AuthStyleAutoDetect, for the confidential and the
 * public client. x/oauth2 has no discovery, revocation or introspection API.
 * Driver: clients/x-oauth2/main.go. docs/client-libraries.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIDENTIAL, driverEnv, PUBLIC, runDriver, startInteropGateway, USER, type InteropGateway } from './harness.js';

let gw: InteropGateway;
let seen: Record<string, Record<string, unknown>>;
const dir = mkdtempSync(join(tmpdir(), 'ropc-x-oauth2-'));

/** GOPATH mode, no module proxy: only what the Debian packages put in /usr/share/gocode. */
async function build(): Promise<string> {
  const binary = join(dir, 'driver');
  const source = fileURLToPath(new URL('./clients/x-oauth2/main.go', import.meta.url));
  const env = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    GO111MODULE: 'off',
    GOPATH: '/usr/share/gocode',
    GOCACHE: join(dir, 'cache'),
    GOPROXY: 'off',
    GOFLAGS: '',
  };
  await runDriver('/usr/bin/go', ['build', '-o', binary, source], env, dir).catch((err: unknown) => {
    // runDriver wants JSON on success; go build prints none, so only a non-zero exit is an error.
    if (err instanceof Error && err.message.includes('printed no JSON')) return;
    throw err;
  });
  return binary;
}

beforeAll(async () => {
  const binary = await build();
  gw = await startInteropGateway();
  seen = (await runDriver(binary, [], driverEnv(gw), dir)) as typeof seen;
}, 180_000);
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const flows: Array<[string, string]> = [
  ['header', CONFIDENTIAL.id],
  ['params', CONFIDENTIAL.id],
  ['autodetect', CONFIDENTIAL.id],
  ['public_header', PUBLIC.id],
  ['public_params', PUBLIC.id],
  ['public_autodetect', PUBLIC.id],
];

describe('golang.org/x/oauth2', () => {
  for (const [flow, clientId] of flows) {
    it(`${flow}: password grant, proxy, refresh`, () => {
      const step = seen[flow] ?? {};
      expect(step.password).toEqual({ token_type: 'Bearer', has_refresh: true });
      expect(step.resource).toEqual({ status: 200, subject: USER.username, client_id: clientId });
      expect(step.refresh).toEqual({ new_access: true });
      expect(step.resource_after_refresh).toEqual({ status: 200, subject: USER.username, client_id: clientId });
    });
  }

  it('reports invalid_client for a wrong secret: 401 in the header, 400 in the body', () => {
    expect(seen.wrong_secret_header).toEqual({ raised: true, status: 401, error: 'invalid_client' });
    expect(seen.wrong_secret_params).toEqual({ raised: true, status: 400, error: 'invalid_client' });
  });
});
