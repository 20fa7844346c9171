/**
 * Client secret rotation in ClientRegistry (docs/operations.md, "Client secret rotation"):
 * secondary secrets accepted until their notAfter, the matching secret reported by index, and
 * a failure costing the same verifications whatever client it names and however many secrets
 * that client has. The hash functions are the real ones, observed through spies.
 */
import bcrypt from 'bcryptjs';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientConfig } from '../../src/config/types.js';
import { burnVerification, verifySecret } from '../../src/security/password-hash.js';
import { ClientRegistry } from '../../src/token-endpoint/clients.js';
import { expiredSecretWarnings } from '../../src/config/validate.js';
import type { GatewayConfig } from '../../src/config/types.js';

vi.mock('../../src/security/password-hash.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/security/password-hash.js')>();
  return { ...real, burnVerification: vi.fn(real.burnVerification), verifySecret: vi.fn(real.verifySecret) };
});

const IP = '198.51.100.7';
const NOW = Date.parse('2026-06-01T00:00:00Z');
let hashes: Record<'current' | 'old' | 'older' | 'other', string>;

beforeAll(async () => {
  const [current, old, older, other] = await Promise.all(
    ['current-secret', 'old-secret', 'older-secret', 'other-secret'].map((s) => bcrypt.hash(s, 4)),
  );
  hashes = { current: current!, old: old!, older: older!, other: other! };
});
beforeEach(() => {
  vi.mocked(verifySecret).mockClear();
  vi.mocked(burnVerification).mockClear();
});

function client(
  id: string,
  secretHash: string,
  secondarySecretHashes: string[] = [],
  secondarySecretsNotAfter: string[] = [],
): ClientConfig {
  return {
    id,
    secretHash,
    secret: '',
    secondarySecretHashes,
    secondarySecretsNotAfter,
    public: false,
    scopes: ['read'],
    defaultScopes: [],
    grantTypes: ['password'],
    validators: [],
  } as unknown as ClientConfig;
}

function registry(cacheSeconds = 0, now = () => NOW) {
  const matches: [string, number, boolean][] = [];
  const clients = new ClientRegistry(
    [
      client('rotating', hashes.current, [hashes.old, hashes.older], ['2026-07-01T00:00:00Z', '2026-05-01T00:00:00Z']),
      client('plain', hashes.other),
    ],
    cacheSeconds,
    undefined,
    { onMatch: (id, index, cached) => void matches.push([id, index, cached]), now },
  );
  return { clients, matches };
}

const hashCalls = (): number => vi.mocked(verifySecret).mock.calls.length + vi.mocked(burnVerification).mock.calls.length;

describe('client secret rotation', () => {
  it('accepts the current secret and a live secondary, and says which matched by index', async () => {
    const { clients, matches } = registry();
    expect((await clients.authenticate('rotating', 'current-secret', IP))?.id).toBe('rotating');
    expect((await clients.authenticate('rotating', 'old-secret', IP))?.id).toBe('rotating');
    expect((await clients.authenticate('plain', 'other-secret', IP))?.id).toBe('plain');
    expect(matches).toEqual([
      ['rotating', 0, false],
      ['rotating', 1, false],
      ['plain', 0, false],
    ]);
  });

  it('refuses a secondary after its notAfter', async () => {
    const { clients } = registry();
    expect(await clients.authenticate('rotating', 'older-secret', IP)).toBeUndefined();
  });

  it('stops accepting a remembered secondary once it expires', async () => {
    let now = NOW;
    const { clients, matches } = registry(3600, () => now);
    expect(await clients.authenticate('rotating', 'old-secret', IP)).toBeDefined();
    expect(await clients.authenticate('rotating', 'old-secret', IP)).toBeDefined();
    expect(matches.at(-1)).toEqual(['rotating', 1, true]);
    now = Date.parse('2026-07-01T00:00:00Z');
    expect(await clients.authenticate('rotating', 'old-secret', IP)).toBeUndefined();
  });

  it('a wrong secret costs the same verifications for a client with one secret, one with three, and an unknown id', async () => {
    const { clients } = registry();
    expect(clients.secondarySlots).toBe(2);
    const costs: number[] = [];
    for (const id of ['plain', 'rotating', 'nobody']) {
      const before = hashCalls();
      expect(await clients.authenticate(id, 'wrong', IP)).toBeUndefined();
      costs.push(hashCalls() - before);
    }
    expect(costs).toEqual([3, 3, 3]);
  });

  it('costs one verification per reading when no client has secondaries (as before rotation existed)', async () => {
    const clients = new ClientRegistry([client('plain', hashes.other)], 0);
    expect(clients.secondarySlots).toBe(0);
    expect(
      await clients.authenticateAny(
        [
          { id: 'plain', secret: 'a' },
          { id: 'nobody', secret: 'b' },
        ],
        IP,
      ),
    ).toBeUndefined();
    expect(hashCalls()).toBe(2);
  });
});

describe('check-config warnings', () => {
  it('warns about an expired secondary secret, naming it by index', () => {
    const config = {
      clients: [client('rotating', 'h', ['a', 'b', 'c'], ['2026-07-01T00:00:00Z', '2026-05-01T00:00:00Z'])],
    } as unknown as GatewayConfig;
    expect(expiredSecretWarnings(config, NOW)).toEqual([
      'clients[0].secondarySecretsNotAfter[1]: secret 2 of client "rotating" expired at 2026-05-01T00:00:00Z and is refused; remove it from secondarySecretHashes',
    ]);
  });
});
