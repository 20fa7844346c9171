/**
 * The Basic bridge alone (src/resource/basic-bridge.ts): RFC 7617 parsing, the identity it
 * builds, its success cache on a moved clock, single flight. With a fake login; through a real
 * gateway in test/integration/basic-bridge.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { createBasicBridge, parseBasicUser, type BasicClient } from '../../src/resource/basic-bridge.js';
import { InvalidUserCredentialsError } from '../../src/oauth/errors.js';
import type { PasswordLogin } from '../../src/security/login.js';
import { ScopePolicy } from '../../src/oauth/scope-policy.js';
import type { ChainOutcome } from '../../src/validators/chain.js';
import { sleep } from '../support/wait-for.js';

/** RFC 7617: base64 of UTF-8 "user:password", nothing form-encoded. */
const basicUser = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

describe('parseBasicUser (RFC 7617 §2)', () => {
  it('splits at the first colon and decodes UTF-8 without form-decoding', () => {
    expect(parseBasicUser(basicUser('alice', 'p&ss=w+rd%ü'))).toEqual({ username: 'alice', password: 'p&ss=w+rd%ü' });
    expect(parseBasicUser(basicUser('bob', 'a:b:c'))).toEqual({ username: 'bob', password: 'a:b:c' });
    expect(parseBasicUser(`bAsIc   ${Buffer.from('x:y').toString('base64')}`)).toEqual({ username: 'x', password: 'y' });
  });
  it('refuses malformed, empty and control-character values', () => {
    for (const value of [
      'Basic',
      'Basic !!!',
      'Basic a',
      basicUser('', 'pw'),
      basicUser('joe', ''),
      `Basic ${Buffer.from('nocolon').toString('base64')}`,
      basicUser('jo\ne', 'pw'),
      `Basic ${Buffer.from([0x6a, 0x3a, 0xff]).toString('base64')}`,
    ]) {
      expect(parseBasicUser(value), value).toBeNull();
    }
  });
});

describe('createBasicBridge', () => {
  const client: BasicClient = { id: 'legacy', scopes: ['read', 'edit', 'admin'], defaultScopes: ['read', 'admin'] };
  // `admin` is gated (only admins), `edit` too (only editors): groupScopes narrows, never widens.
  const scopePolicy = new ScopePolicy([{ name: 'local', groupScopes: { Admins: ['admin'], editors: ['edit'] } }]);
  const valid: ChainOutcome = {
    valid: true,
    validator: 'local',
    principal: { subject: 'joe', groups: ['editors'], attributes: { mail: 'joe@x' } },
  };
  const admin: ChainOutcome = { valid: true, validator: 'local', principal: { subject: 'ann', groups: ['admins'], attributes: {} } };
  const setup = (options: { cacheSeconds?: number; maxEntries?: number; answer?: (u: string, p: string) => ChainOutcome } = {}) => {
    let now = 1_000_000;
    const login = vi.fn<PasswordLogin>(async (_c, u, p) => {
      await sleep(5);
      return (options.answer ?? ((user, pw) => (user === 'joe' && pw === 'right' ? valid : { valid: false })))(u, p);
    });
    const bridge = createBasicBridge({
      login,
      clients: [
        client,
        { id: 'all', scopes: ['read', 'edit', 'admin'], defaultScopes: [] },
        { id: 'narrow', scopes: ['read'], defaultScopes: [] },
      ],
      scopePolicy,
      cacheSeconds: options.cacheSeconds ?? 30,
      ...(options.maxEntries ? { maxEntries: options.maxEntries } : {}),
      now: () => now,
    });
    return { login, bridge, advance: (ms: number) => (now += ms) };
  };

  it("builds the identity from the principal and the client's defaultScopes (or all its scopes)", async () => {
    const { bridge } = setup();
    expect(await bridge.authenticate('legacy', basicUser('joe', 'right'), '10.0.0.1')).toEqual({
      sub: 'joe',
      clientId: 'legacy',
      scope: ['read'],
      groups: ['editors'],
      attributes: { mail: 'joe@x' },
    });
    expect((await bridge.authenticate('all', basicUser('joe', 'right'), '10.0.0.1')).scope).toEqual(['read', 'edit']);
  });

  it("grants a gated scope to members of a group mapped to it, and never beyond the client's scopes", async () => {
    const { bridge } = setup({ answer: () => admin });
    expect((await bridge.authenticate('legacy', basicUser('ann', 'x'), 'ip')).scope).toEqual(['read', 'admin']);
    expect((await bridge.authenticate('all', basicUser('ann', 'y'), 'ip')).scope).toEqual(['read', 'admin']);
    expect((await bridge.authenticate('narrow', basicUser('ann', 'z'), 'ip')).scope).toEqual(['read']);
  });

  it('passes client, username, password and client IP to the login (lockout counts per IP)', async () => {
    const { bridge, login } = setup();
    await bridge.authenticate('legacy', basicUser('joe', 'right'), '10.0.0.7');
    expect(login).toHaveBeenCalledWith('legacy', 'joe', 'right', '10.0.0.7', { via: 'basic_bridge' });
  });

  it('remembers a success for cacheSeconds, keyed by the password too', async () => {
    const { bridge, login, advance } = setup({ cacheSeconds: 30 });
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(login).toHaveBeenCalledTimes(1);
    await expect(bridge.authenticate('legacy', basicUser('joe', 'wrong'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).toHaveBeenCalledTimes(2);
    advance(30_001);
    await bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(login).toHaveBeenCalledTimes(3);
  });

  it('never caches a failure: every wrong attempt reaches the login and its lockout counter', async () => {
    const { bridge, login } = setup();
    for (let i = 0; i < 4; i++)
      await expect(bridge.authenticate('legacy', basicUser('joe', 'wrong'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).toHaveBeenCalledTimes(4);
  });

  it('shares one login between concurrent requests with the same credentials', async () => {
    const { bridge, login } = setup();
    await Promise.all(Array.from({ length: 5 }, () => bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip')));
    expect(login).toHaveBeenCalledTimes(1);
  });

  it('caches nothing with cacheSeconds 0, and evicts the oldest entry when full', async () => {
    const off = setup({ cacheSeconds: 0 });
    await off.bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    await off.bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip');
    expect(off.login).toHaveBeenCalledTimes(2);

    const small = setup({ maxEntries: 1, answer: () => valid });
    await small.bridge.authenticate('legacy', basicUser('a', 'x'), 'ip');
    await small.bridge.authenticate('legacy', basicUser('b', 'x'), 'ip');
    await small.bridge.authenticate('legacy', basicUser('a', 'x'), 'ip');
    expect(small.login).toHaveBeenCalledTimes(3);
  });

  it('refuses malformed values and unknown clients without calling the login', async () => {
    const { bridge, login } = setup();
    await expect(bridge.authenticate('legacy', 'Basic !!!', 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    await expect(bridge.authenticate('ghost', basicUser('joe', 'right'), 'ip')).rejects.toBeInstanceOf(InvalidUserCredentialsError);
    expect(login).not.toHaveBeenCalled();
  });

  it('lets an outage through as an outage (503), never as a refusal', async () => {
    const outage = new Error('directory down');
    const bridge = createBasicBridge({ login: () => Promise.reject(outage), clients: [client], scopePolicy, cacheSeconds: 30 });
    await expect(bridge.authenticate('legacy', basicUser('joe', 'right'), 'ip')).rejects.toBe(outage);
  });
});
