/** ClientRegistry.authenticateAny: the readings of one Basic header, one attempt (docs/security.md). */
import { describe, expect, it } from 'vitest';
import type { ClientConfig } from '../../src/config/types.js';
import { ClientRegistry } from '../../src/token-endpoint/clients.js';
import { hashSecret } from '../../src/security/password-hash.js';

async function registry(): Promise<ClientRegistry> {
  const base = { scopes: ['read'], defaultScopes: ['read'], grantTypes: ['password', 'refresh_token'], secret: '', secretHash: '', secretFile: '', public: false };
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
    const found = await r.authenticateAny([
      { id: 'my', secret: 'client:ab cd/ef==' },
      { id: 'my:client', secret: 'ab cd/ef==' },
      { id: 'my:client', secret: 'ab+cd/ef==' },
    ], '127.0.0.1');
    expect(found?.id).toBe('my:client');
  });

  it('returns undefined when no reading verifies, and never for an empty secret or a public client', async () => {
    const r = await registry();
    expect(await r.authenticateAny([{ id: 'my:client', secret: 'ab cd/ef==' }, { id: 'nobody', secret: 'x' }], '127.0.0.1')).toBeUndefined();
    expect(await r.authenticateAny([{ id: 'empty', secret: '' }], '127.0.0.1')).toBeUndefined();
    expect(await r.authenticateAny([{ id: 'spa', secret: '' }], '127.0.0.1')).toBeUndefined();
    expect(await r.authenticateAny([], '127.0.0.1')).toBeUndefined();
  });

  it('lists the configured ids that contain a colon', async () => {
    expect((await registry()).idsWithColon).toEqual(['my:client']);
  });
});
