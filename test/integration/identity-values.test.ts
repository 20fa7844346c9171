/**
 * Identity header values at the real boundary (docs/routing.md "Identity header values"):
 * users `björn` and `bj%C3%B6rn` must reach the upstream as different subjects, and a group
 * `R&D, Europe` as one element — through the proxy and in decision answers alike.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/security/password-hash.js';
import { useGateway } from '../support/use-gateway.js';

// Log level info at least: reloadUsers waits for the reload's log line.
const env = useGateway({ config: { decision: { enabled: true, ingress: 'nginx' }, log: { level: 'info' } } });
const tokens: Record<string, string> = {};
const NAMES = ['björn', 'bj%C3%B6rn'];

beforeAll(async () => {
  const hash = await hashSecret('pw-1');
  await env.gw.reloadUsers([
    { username: 'björn', passwordHash: hash, groups: ['R&D, Europe', 'admins'] },
    { username: 'bj%C3%B6rn', passwordHash: hash, groups: ['R&D', ' Europe'] },
  ]);
  for (const name of NAMES) tokens[name] = await env.accessToken(name, { password: 'pw-1' });
});

async function upstreamSaw(name: string): Promise<Record<string, string>> {
  const res = await fetch(`${env.gw.url}/api/who`, { headers: { authorization: `Bearer ${tokens[name]}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { headers: Record<string, string> }).headers;
}

describe('identity header values', () => {
  it('two users whose names differ only in encoding arrive as two subjects, each decoding to its name', async () => {
    const a = await upstreamSaw('björn');
    const b = await upstreamSaw('bj%C3%B6rn');
    expect(a['x-auth-subject']).toBe('bj%C3%B6rn');
    expect(b['x-auth-subject']).toBe('bj%25C3%25B6rn');
    expect(decodeURIComponent(a['x-auth-subject'] as string)).toBe('björn');
    expect(decodeURIComponent(b['x-auth-subject'] as string)).toBe('bj%C3%B6rn');
  });

  it('a group with a comma stays one element: split at "," then decode each', async () => {
    const a = await upstreamSaw('björn');
    const b = await upstreamSaw('bj%C3%B6rn');
    const groups = (v: string | undefined) => (v as string).split(',').map(decodeURIComponent);
    expect(a['x-auth-groups']).toBe('R&D%2C%20Europe,admins');
    expect(groups(a['x-auth-groups'])).toEqual(['R&D, Europe', 'admins']);
    expect(groups(b['x-auth-groups'])).toEqual(['R&D', ' Europe']);
  });

  it('the decision endpoint answers the same values (one encoding function)', async () => {
    const res = await fetch(`${env.gw.url}/_ropc/auth`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/who', authorization: `Bearer ${tokens['björn']}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('bj%C3%B6rn');
    expect(res.headers.get('x-auth-groups')).toBe('R&D%2C%20Europe,admins');
  });
});
