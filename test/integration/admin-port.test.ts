/**
 * The admin port's defaults (docs/operations.md, "Admin port"): it binds loopback unless
 * admin.host says otherwise, and /readyz answers tersely unless asked for details.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  // No admin.host: the gateway's default applies.
  gw = await startGateway({ upstream: upstream.url, config: { admin: { host: undefined, port: 0 } } });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('the admin port', () => {
  it('binds the loopback address by default', () => {
    expect((gw.gateway.admin.address() as AddressInfo).address).toBe('127.0.0.1');
  });

  it('answers /readyz with a bare "ok", naming no store or directory', async () => {
    const res = await fetch(`${gw.adminUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('ok\n');
  });

  it('gives the store and validator report on /readyz?verbose', async () => {
    const res = await fetch(`${gw.adminUrl}/readyz?verbose`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', store: { status: 'up' }, validators: [{ name: 'local', status: 'up' }] });
  });
});
