/** RFC 6750 — using bearer tokens on the resource path (§2.1 and §3). Real gateway, real upstream. */
import { beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, USERS } from '../support/start-gateway.js';
import { useGateway } from '../support/use-gateway.js';

const env = useGateway({
  config: {
    routes: [
      { path: '/public/**', auth: 'none' },
      { path: '/admin/**', scopes: ['admin'] },
      { path: '/any', scopes: ['admin', 'edit'], scopeMode: 'any' },
      { path: '/editors', groups: ['editors'] },
      { path: '/admins', groups: ['admins'] },
    ],
  },
});
let token: string;
beforeAll(async () => {
  token = await env.accessToken('joe', { scope: 'read edit' });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${env.gw.url}${path}`, { headers });

describe('RFC 6750 §2.1 Authorization request header field', () => {
  // b64token and a case-insensitive scheme ("Bearer" 1*SP b64token; RFC 9110 §11.1 schemes are case-insensitive)
  it('accepts the token with any case of the scheme name', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect((await get('/x', { authorization: `${scheme} ${token}` })).status).toBe(200);
    }
  });

  // §2.3 URI query parameter: supported only if the server chooses; the gateway does not.
  it('refuses a token in the query, and a token sent two ways', async () => {
    const query = await get(`/x?access_token=${token}`);
    expect(query.status).toBe(400);
    expect(query.headers.get('www-authenticate')).toContain('error="invalid_request"');
    const both = await get(`/x?access_token=${token}`, { authorization: `Bearer ${token}` });
    expect(both.status).toBe(400);
    expect(await both.json()).toEqual({ error: 'invalid_request', error_description: 'the access token was sent in more than one way' });
  });
});

describe('RFC 6750 §3 the WWW-Authenticate response header field', () => {
  // §3.1 "If the request lacks any authentication information ..., the resource server SHOULD
  //  NOT include an error code or other error information."
  it('answers 401 with a bare Bearer challenge when no token is sent', async () => {
    const res = await get('/x');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="ropc-gateway"');
    expect(await res.text()).toBe('');
  });

  it('treats Basic credentials on a bearer route as no token', async () => {
    const res = await get('/x', { authorization: basicAuth('joe', USERS.joe.password) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="ropc-gateway"');
  });

  // §3.1 invalid_token: "The access token provided is expired, revoked, malformed, or invalid
  //  for other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status code."
  it('answers 401 invalid_token for unknown and malformed tokens', async () => {
    for (const value of [`Bearer ${'A'.repeat(65)}`, 'Bearer', 'Bearer a b', `Bearer ${token}x`]) {
      const res = await get('/x', { authorization: value });
      expect(res.status, value).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="ropc-gateway", error="invalid_token", error_description="[^"]+"$/,
      );
      expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
    }
  });

  // §3.1 insufficient_scope: "The resource server SHOULD respond with the HTTP 403 (Forbidden)
  //  status code and MAY include the "scope" attribute with the scope necessary to access the protected resource."
  it('answers 403 insufficient_scope naming the scope', async () => {
    const res = await get('/admin/users', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="ropc-gateway", error="insufficient_scope", error_description="the token lacks the required scope", scope="admin"',
    );
  });

  it('applies scopeMode any and group rules', async () => {
    expect((await get('/any', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await get('/editors', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await get('/admins', { authorization: `Bearer ${token}` })).status).toBe(403);
  });

  it('lets public routes through without a token', async () => {
    expect((await get('/public/logo.png')).status).toBe(200);
  });

  it('refuses two Authorization headers', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${env.gw.url}/x`,
        { headers: ['authorization', `Bearer ${token}`, 'authorization', `Bearer ${token}`] as unknown as Record<string, string> },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
  });
});
