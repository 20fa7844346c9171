/**
 * RFC 6749 §6 refreshing an access token, with rotation and reuse detection (RFC 9700
 * §4.14.2), against the memory store and a real redis-server.
 */
import { describe, expect, it } from 'vitest';
import { USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';

for (const storeKind of ['memory', 'redis'] as const) {
  describe(`RFC 6749 §6 refresh (${storeKind} store)`, () => {
    const env = useGateway({ redis: storeKind === 'redis' });

    async function login(client = 'app', scope = 'read edit') {
      const res = await env.password('joe', { client, scope });
      expect(res.status).toBe(200);
      return res.json as { access_token: string; refresh_token: string };
    }
    const refresh = (token: string, extra = '', client = 'app') =>
      env.token(`grant_type=refresh_token&refresh_token=${token}${extra}`, { client });
    const call = (token: string) => fetch(`${env.gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });

    // "If valid and authorized, the authorization server issues an access token as described in Section 5.1."
    it('issues a new access token and rotates the refresh token', async () => {
      const first = await login();
      const res = await refresh(first.refresh_token);
      expect(res.status).toBe(200);
      expect(res.json.token_type).toBe('Bearer');
      expect(res.json.refresh_token).toMatch(/^[A-Za-z0-9_-]{65}$/);
      expect(res.json.refresh_token).not.toBe(first.refresh_token);
      expect((await call(res.json.access_token as string)).status).toBe(200);
      // The old refresh token stops working ...
      const again = await refresh(first.refresh_token);
      expect(again.status).toBe(400);
      expect(again.json.error).toBe('invalid_grant');
      // ... and presenting it revokes the whole family (RFC 9700 §4.14.2).
      expect((await refresh(res.json.refresh_token as string)).json.error).toBe('invalid_grant');
      expect((await call(res.json.access_token as string)).status).toBe(401);
      expect((await call(first.access_token)).status).toBe(401);
    });

    // "the authorization server MUST ... ensure that the refresh token was issued to the authenticated client"
    it('binds the refresh token to its client', async () => {
      const first = await login();
      const res = await refresh(first.refresh_token, '', 'other');
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_grant');
      expect((await refresh(first.refresh_token)).status).toBe(200);
    });

    // "scope ... The requested scope MUST NOT include any scope not originally granted by the
    //  resource owner, and if omitted is treated as equal to the scope originally granted"
    it('allows narrowing and refuses widening the scope', async () => {
      const first = await login('app', 'read');
      const wide = await refresh(first.refresh_token, '&scope=read%20edit');
      expect(wide.status).toBe(400);
      expect(wide.json.error).toBe('invalid_scope');
      const second = await login('app', 'read edit');
      const narrow = await refresh(second.refresh_token, '&scope=read');
      expect(narrow.status).toBe(200);
      expect(narrow.json).not.toHaveProperty('scope');
      // The rotated refresh token keeps the original grant: it can be narrowed to edit later.
      const later = await refresh(narrow.json.refresh_token as string, '&scope=edit');
      expect(later.status).toBe(200);
    });

    it('answers invalid_grant for an unknown refresh token and a missing one', async () => {
      expect((await refresh('x'.repeat(65))).json.error).toBe('invalid_grant');
      expect((await env.token('grant_type=refresh_token')).json).toEqual({
        error: 'invalid_request',
        error_description: 'missing parameter: refresh_token',
      });
    });

    it('refuses the refresh once the user is removed from the validator', async () => {
      const first = await login();
      await env.gw.reloadUsers([]);
      try {
        expect((await refresh(first.refresh_token)).json.error).toBe('invalid_grant');
        expect((await call(first.access_token)).status).toBe(401);
      } finally {
        const { hashSecret } = await import('../../src/security/password-hash.js');
        await env.gw.reloadUsers([{ username: 'joe', passwordHash: await hashSecret(USERS.joe.password), groups: ['editors'] }]);
        expect((await env.password()).status).toBe(200);
      }
    });

    it('of 20 concurrent refreshes with one token exactly one succeeds', async () => {
      const first = await login();
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refresh_token)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(r.json.error).toBe('invalid_grant');
    });
  });
}
