/** ClientRegistry.authenticateAny: the readings of one Basic header, one attempt (docs/security.md). */
import { describe, expect, it } from 'vitest';
import type { ClientConfig } from '../../src/config/types.js';
import { ClientRegistry } from '../../src/token-endpoint/clients.js';
import { hashSecret } from '../../src/security/password-hash.js';

async function registry(): Promise<ClientRegistry> {
  const base = {
    scopes: ['read'],
    defaultScopes: ['read'],
    grantTypes: ['password', 'refresh_token'],
    secret: '',
    secretHash: '',
    secretFile: '',
    public: false,
  };
  const clients = [
    { ...base, id: 'my:client', secretHash: await hashSecret('ab+cd/ef==') },
    { ...base, id: 'empty', secret: '' },
    { ...base, id: 'spa', public: true },
  ] as unknown as ClientConfig[];
  return new ClientRegistry(clients, 60);
}

describe('ClientRegistry.authenticateAny', () => {
  it('returns the client of the first reading that verifies', async () => {
    const r = await registry();
    const found = await r.authenticateAny(
      [
        { id: 'my', secret: 'client:ab cd/ef==' },
        { id: 'my:client', secret: 'ab cd/ef==' },
        { id: 'my:client', secret: 'ab+cd/ef==' },
      ],
      '127.0.0.1',
    );
    expect(found?.id).toBe('my:client');
  });

  it('returns undefined when no reading verifies, and never for an empty secret or a public client', async () => {
    const r = await registry();
    expect(
      await r.authenticateAny(
        [
          { id: 'my:client', secret: 'ab cd/ef==' },
          { id: 'nobody', secret: 'x' },
        ],
        '127.0.0.1',
      ),
    ).toBeUndefined();
    expect(await r.authenticateAny([{ id: 'empty', secret: '' }], '127.0.0.1')).toBeUndefined();
    expect(await r.authenticateAny([{ id: 'spa', secret: '' }], '127.0.0.1')).toBeUndefined();
    expect(await r.authenticateAny([], '127.0.0.1')).toBeUndefined();
  });

  it('verifies a burst of the same credentials once; a wrong secret is verified for each request', async () => {
    const base = { scopes: ['read'], defaultScopes: ['read'], grantTypes: ['password'], secret: '', secretFile: '', public: false };
    const seen: boolean[] = [];
    const r = new ClientRegistry(
      [{ ...base, id: 'svc', secretHash: await hashSecret('right') }] as unknown as ClientConfig[],
      60,
      undefined,
      {
        onMatch: (_id, _index, cached) => seen.push(cached),
      },
    );
    const found = await Promise.all(Array.from({ length: 4 }, () => r.authenticate('svc', 'right', '127.0.0.1')));
    expect(found.map((c) => c?.id)).toEqual(['svc', 'svc', 'svc', 'svc']);
    // One verification; the three requests that arrived during it took its success.
    expect(seen.filter((cached) => !cached)).toHaveLength(1);
    expect(seen).toHaveLength(4);
    expect(await Promise.all(Array.from({ length: 3 }, () => r.authenticate('svc', 'wrong', '127.0.0.1')))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('lists the configured ids that contain a colon', async () => {
    expect((await registry()).idsWithColon).toEqual(['my:client']);
  });
});
