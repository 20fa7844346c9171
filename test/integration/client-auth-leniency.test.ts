/**
 * Client authentication where libraries depart from RFC 6749 §2.3.1 (docs/security.md,
 * "Client authentication"): raw Basic credentials, a public client's empty Basic password, and
 * the success cache over raw readings. Real gateway, real HTTP client, memory store.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { basicAuth, postForm, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';
import { hashSecret } from '../../src/security/password-hash.js';

const ODD = { id: 'my:client', secret: 'ab+cd/ef==' } as const;
const PLUS = { id: 'plus', secret: 'a+b c%d' } as const;

const env = useGateway({
  config: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ropc-leniency-'));
    const plusFile = join(dir, 'plus-secret');
    writeFileSync(plusFile, `${PLUS.secret}\n`);
    return {
      clients: [
        { id: ODD.id, secretHash: await hashSecret(ODD.secret), scopes: ['read'], defaultScopes: ['read'] },
        { id: PLUS.id, secretFile: plusFile, scopes: ['read'], defaultScopes: ['read'] },
        { id: 'spa', public: true, scopes: ['read'], defaultScopes: ['read'] },
        { id: 'app', secretHash: await hashSecret('app-secret'), scopes: ['read'], defaultScopes: ['read'] },
      ],
    };
  },
});

const joe = `grant_type=password&username=${USERS.joe.username}&password=${USERS.joe.password}`;
const raw = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`;

describe('Basic credentials sent raw (not form-encoded)', () => {
  it('accepts the form-encoded and the raw form of an id with a colon and a secret with + / =', async () => {
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: basicAuth(ODD.id, ODD.secret) })).status).toBe(200);
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: raw(ODD.id, ODD.secret) })).status).toBe(200);
  });

  it('accepts a raw secret with +, space and % (not valid form-encoding)', async () => {
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: raw(PLUS.id, PLUS.secret) })).status).toBe(200);
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: basicAuth(PLUS.id, PLUS.secret) })).status).toBe(200);
  });

  it('still refuses wrong secrets in either form, with the 401 Basic challenge', async () => {
    for (const authorization of [raw(ODD.id, 'ab+cd/ef='), basicAuth(ODD.id, 'ab cd/ef=='), raw(PLUS.id, 'a b c%d')]) {
      const res = await postForm(env.gw.tokenUrl, joe, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="ropc-gateway", charset="UTF-8"');
      expect(res.json.error).toBe('invalid_client');
    }
  });

  it('matches a body client_id against the readings of the header', async () => {
    expect((await postForm(env.gw.tokenUrl, `${joe}&client_id=my%3Aclient`, { authorization: raw(ODD.id, ODD.secret) })).status).toBe(200);
    const other = await postForm(env.gw.tokenUrl, `${joe}&client_id=app`, { authorization: raw(ODD.id, ODD.secret) });
    expect(other.status).toBe(400);
    expect(other.json.error).toBe('invalid_request');
  });

  it('does not let a remembered success of one reading stand for another secret', async () => {
    // The raw reading succeeded above and is remembered under (id, secret); a value whose
    // readings differ from it must still be verified — and fail.
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: raw(ODD.id, ODD.secret) })).status).toBe(200);
    expect((await postForm(env.gw.tokenUrl, joe, { authorization: raw(ODD.id, `${ODD.secret}x`) })).status).toBe(401);
  });
});

describe('a public client sending Basic with an empty password', () => {
  it('is taken as if client_id were in the body (method none)', async () => {
    const res = await postForm(env.gw.tokenUrl, joe, { authorization: raw('spa', '') });
    expect(res.status).toBe(200);
    expect(res.json.token_type).toBe('Bearer');
    const log = env.gw.logs().filter((l) => l.clientId === 'spa');
    expect(log.length).toBeGreaterThan(0);
  });

  it('is refused with a password, and a confidential client is refused with an empty one', async () => {
    for (const authorization of [raw('spa', 'x'), raw('app', ''), raw('nobody', '')]) {
      const res = await postForm(env.gw.tokenUrl, joe, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    }
  });

  it('may revoke its token that way, but may not introspect', async () => {
    const tokens = (await postForm(env.gw.tokenUrl, joe, { authorization: raw('spa', '') })).json;
    const revoke = await postForm(env.gw.revocationUrl, `token=${String(tokens.refresh_token)}`, { authorization: raw('spa', '') });
    expect(revoke.status).toBe(200);
    const introspect = await postForm(`${env.gw.url}/as/introspect.oauth2`, `token=${String(tokens.access_token)}`, {
      authorization: raw('spa', ''),
    });
    expect(introspect.status).toBe(401);
  });
});
