/**
 * Property-based fuzzing (fast-check) of the token endpoint and the bearer header on the
 * resource path: thousands of generated requests; never a 5xx, always a valid RFC body, and
 * never a token for wrong credentials.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, CLIENT, postForm, startGateway, USERS, type TestGateway } from '../support/start-gateway.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';

let gw: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  // The client-auth cache makes a correct client cheap; wrong secrets each cost one argon2id.
  gw = await startGateway({ upstream: upstream.url, config: { log: { level: 'warn' } } });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
];
const names = fc.constantFrom(
  'grant_type',
  'username',
  'password',
  'scope',
  'refresh_token',
  'client_id',
  'client_secret',
  'x',
  '',
  '%',
  '+',
  '=',
);
const values = fc.oneof(
  fc.constantFrom(
    'password',
    'refresh_token',
    'joe',
    'alice',
    USERS.joe.password,
    'read',
    'edit admin',
    CLIENT.id,
    '',
    '%',
    '%%',
    '%ZZ',
    '%00',
    '+',
    '&',
    '=',
    'A'.repeat(65),
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const encode = fc.constantFrom(
  (s: string) => s,
  (s: string) => encodeURIComponent(s),
  (s: string) => encodeURIComponent(s).replace(/%20/g, '+'),
);
const authHeaders = fc.oneof(
  fc.constant<Record<string, string>>({}),
  fc.constant<Record<string, string>>({ authorization: basicAuth() }),
  fc.record({ authorization: fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`) }),
  fc.record({ authorization: fc.string({ maxLength: 40 }) }),
);

function isAsciiHeader(v: string): boolean {
  return /^[\x20-\x7e]*$/.test(v);
}

/**
 * 1500 sequential requests per property, some costing an argon2id verification each: seconds on
 * an idle machine, minutes with its cores busy. What is checked is each answer, never how fast it
 * came, so the test's time limit only stops a hang.
 */
const FUZZ_TIMEOUT_MS = 600_000;

describe('fuzzing', () => {
  it(
    'the token endpoint never answers 5xx and never issues a token for wrong credentials',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(names, values, encode), { maxLength: 8 }), authHeaders, async (pairs, headers) => {
          fc.pre(Object.values(headers).every(isAsciiHeader));
          const body = pairs.map(([n, v, enc]) => `${enc(n)}=${enc(v)}`).join('&');
          const res = await postForm(gw.tokenUrl, body, headers);
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) {
            // A token only for the right user password and the right client.
            const params = new URLSearchParams(body);
            expect(params.get('grant_type')).toBe('password');
            expect([USERS.joe.password]).toContain(params.get('password'));
            expect(res.json.token_type).toBe('Bearer');
          } else {
            expect(ERROR_CODES).toContain(res.json.error);
            expect(Object.keys(res.json).every((k) => k === 'error' || k === 'error_description')).toBe(true);
          }
        }),
        { numRuns: 1500 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'the resource path answers 401/400 to any bearer header it did not issue',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9_-]{65}$/)),
          fc.constantFrom('Bearer ', 'bearer ', 'BEARER  ', 'Bearer', ''),
          async (token, scheme) => {
            const value = `${scheme}${token}`;
            fc.pre(isAsciiHeader(value));
            const res = await fetch(`${gw.url}/api`, { headers: { authorization: value } });
            expect([400, 401]).toContain(res.status);
            expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="ropc-gateway"/);
          },
        ),
        { numRuns: 1500 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
