/**
 * The pure parts of the incumbent source (docs/migrating-from-pingfederate.md): the circuit
 * breaker, the answer cache and its bounds, the claim mapping, and which tokens count as ours.
 * Time is a variable moved by the test, never slept.
 */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/resource/circuit-breaker.js';
import { IncumbentCache } from '../../src/resource/incumbent-cache.js';
import { mapIntrospection, type ClaimMapping } from '../../src/resource/incumbent-claims.js';
import { withTokenSources, type TokenSource } from '../../src/resource/token-source.js';
import { newFamilyId, newToken, parseToken } from '../../src/tokens/token-value.js';
import type { GrantRecord } from '../../src/tokens/types.js';

describe('CircuitBreaker', () => {
  const make = () => {
    let now = 1_000_000;
    const changes: boolean[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 10_000, now: () => now, onChange: (open) => changes.push(open) });
    return { breaker, changes, advance: (ms: number) => (now += ms) };
  };

  it('opens after failureThreshold consecutive failures, not before, and a success resets the count', () => {
    const { breaker, changes } = make();
    breaker.failed();
    breaker.failed();
    breaker.succeeded();
    breaker.failed();
    breaker.failed();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failed();
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    expect(changes).toEqual([true]);
    expect(breaker.retryAfterSeconds()).toBe(10);
  });

  it('lets one trial through after openMs; its success closes the breaker', () => {
    const { breaker, changes, advance } = make();
    for (let i = 0; i < 3; i++) breaker.failed();
    advance(9_999);
    expect(breaker.tryAcquire()).toBe(false);
    advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false); // one trial at a time
    breaker.succeeded();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
    expect(changes).toEqual([true, false]);
  });

  it('a failed trial opens it for another openMs', () => {
    const { breaker, changes, advance } = make();
    for (let i = 0; i < 3; i++) breaker.failed();
    advance(10_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failed();
    expect(breaker.state).toBe('open');
    advance(9_999);
    expect(breaker.tryAcquire()).toBe(false);
    advance(1);
    expect(breaker.tryAcquire()).toBe(true);
    expect(changes).toEqual([true]);
  });
});

const record = (exp: number): GrantRecord => ({
  sub: 'joe',
  clientId: 'c',
  scope: [],
  groups: [],
  attributes: {},
  validator: 'incumbent',
  familyId: '',
  iat: 0,
  exp,
});

describe('IncumbentCache', () => {
  const make = (maxEntries = 10) => {
    let now = 1_000_000_000;
    const cache = new IncumbentCache({ positiveMs: 60_000, negativeMs: 5_000, maxEntries, now: () => now });
    return { cache, advance: (ms: number) => (now += ms), nowSeconds: () => now / 1000 };
  };

  it('keeps an active answer cacheSeconds at most', () => {
    const { cache, advance, nowSeconds } = make();
    const r = record(nowSeconds() + 3600);
    cache.set('h', r);
    advance(59_999);
    expect(cache.get('h')).toBe(r);
    advance(1);
    expect(cache.get('h')).toBeUndefined();
  });

  it('never keeps an active answer past the token exp', () => {
    const { cache, advance, nowSeconds } = make();
    cache.set('h', record(nowSeconds() + 2));
    advance(1_999);
    expect(cache.get('h')).not.toBeUndefined();
    advance(1);
    expect(cache.get('h')).toBeUndefined();
  });

  it('keeps an inactive answer negativeCacheSeconds, and not at all with 0', () => {
    const { cache, advance } = make();
    cache.set('h', null);
    expect(cache.get('h')).toBeNull();
    advance(5_000);
    expect(cache.get('h')).toBeUndefined();
    const none = new IncumbentCache({ positiveMs: 60_000, negativeMs: 0, maxEntries: 10 });
    none.set('h', null);
    expect(none.get('h')).toBeUndefined();
  });

  it('holds maxEntries at most, dropping the oldest', () => {
    const { cache, nowSeconds } = make(2);
    cache.set('a', record(nowSeconds() + 60));
    cache.set('b', record(nowSeconds() + 60));
    cache.set('c', record(nowSeconds() + 60));
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).not.toBeUndefined();
  });
});

describe('mapIntrospection (RFC 7662 §2.2 answer -> record)', () => {
  const mapping: ClaimMapping = { subject: 'sub', groups: 'groups', attributes: { username: 'Username', level: 'level', tags: 'tags' } };
  const now = 1_700_000_000;

  it('maps sub, client_id, scope, groups, attributes, iat and exp', () => {
    const answer = mapIntrospection(
      {
        active: true,
        sub: 'joe',
        client_id: 'ro_client',
        scope: 'read  edit',
        groups: ['editors'],
        Username: 'Joe',
        level: 3,
        tags: ['a'],
        iat: now - 10,
        exp: now + 100,
        token_type: 'Bearer',
      },
      mapping,
      now,
      60,
    );
    expect(answer).toEqual({
      kind: 'active',
      record: {
        sub: 'joe',
        clientId: 'ro_client',
        scope: ['read', 'edit'],
        groups: ['editors'],
        attributes: { username: 'Joe', level: '3' },
        validator: 'incumbent',
        familyId: '',
        iat: now - 10,
        exp: now + 100,
      },
    });
  });

  it('maps a PingFederate answer: Username mapped to the subject, the contract attributes as claims', () => {
    const pf = {
      active: true,
      scope: 'edit',
      client_id: 'ro_client',
      token_type: 'Bearer',
      exp: now + 7200,
      Username: 'joe',
      OrgName: 'Ping Identity',
    };
    const answer = mapIntrospection(pf, { subject: 'Username', groups: 'memberOf', attributes: { org: 'OrgName' } }, now, 60);
    expect(answer).toMatchObject({
      kind: 'active',
      record: { sub: 'joe', clientId: 'ro_client', scope: ['edit'], groups: [], attributes: { org: 'Ping Identity' }, exp: now + 7200 },
    });
  });

  it('takes groups as one string, scope as a list, and no exp as fallbackTtlSeconds from now', () => {
    const answer = mapIntrospection({ active: true, sub: 'joe', groups: 'editors', scope: ['read'] }, mapping, now, 60);
    expect(answer.kind === 'active' && answer.record).toMatchObject({
      groups: ['editors'],
      scope: ['read'],
      clientId: '',
      exp: now + 60,
      iat: now,
    });
  });

  it('is inactive for active:false and for an exp already past', () => {
    expect(mapIntrospection({ active: false }, mapping, now, 60)).toEqual({ kind: 'inactive' });
    expect(mapIntrospection({ active: true, sub: 'joe', exp: now }, mapping, now, 60)).toEqual({ kind: 'inactive' });
  });

  it('refuses an active answer without the subject claim (PingFederate answers a refresh token {"active":true})', () => {
    expect(mapIntrospection({ active: true }, mapping, now, 60)).toMatchObject({ kind: 'unmapped' });
    expect(mapIntrospection({ active: true, Username: 'joe' }, mapping, now, 60)).toMatchObject({ kind: 'unmapped' });
    expect(mapIntrospection({ active: true, Username: 'joe' }, { ...mapping, subject: 'Username' }, now, 60)).toMatchObject({
      kind: 'active',
      record: { sub: 'joe' },
    });
  });

  it('refuses a token_type other than Bearer (this gateway answers N_A for refresh tokens)', () => {
    expect(mapIntrospection({ active: true, sub: 'joe', token_type: 'N_A' }, mapping, now, 60)).toMatchObject({ kind: 'unmapped' });
    expect(mapIntrospection({ active: true, sub: 'joe', token_type: 'bearer' }, mapping, now, 60)).toMatchObject({ kind: 'active' });
  });

  it('calls anything that is not an RFC 7662 object malformed (an outage, not a verdict)', () => {
    for (const body of [null, 'ok', [], {}, { active: 'true' }]) expect(mapIntrospection(body, mapping, now, 60).kind).toBe('malformed');
  });
});

describe('withTokenSources', () => {
  const live = record(Date.now() / 1000 + 3600);
  const setup = (incumbentAnswer: GrantRecord | null) => {
    const asked: { ours: string[]; incumbent: string[] } = { ours: [], incumbent: [] };
    const counted: TokenSource[] = [];
    const lookup = withTokenSources({
      ours: async (t) => {
        asked.ours.push(t);
        return t === ours ? live : null;
      },
      isOurs: (t) => parseToken(t) !== null,
      incumbent: {
        lookup: async (t) => {
          asked.incumbent.push(t);
          return incumbentAnswer;
        },
      },
      count: (s) => counted.push(s),
    });
    return { lookup, asked, counted };
  };
  const ours = newToken(newFamilyId());
  const revokedOfOurs = newToken(newFamilyId());

  it('never sends a token of our format to the incumbent, found or not', async () => {
    const { lookup, asked, counted } = setup(live);
    expect(await lookup(ours)).toBe(live);
    expect(await lookup(revokedOfOurs)).toBeNull();
    expect(asked.incumbent).toEqual([]);
    expect(counted).toEqual(['ours']);
  });

  it('sends any other token to the incumbent only, and counts it when active', async () => {
    const { lookup, asked, counted } = setup(live);
    expect(await lookup('pf-reference-token-28-chars00')).toBe(live);
    expect(asked).toEqual({ ours: [], incumbent: ['pf-reference-token-28-chars00'] });
    expect(counted).toEqual(['incumbent']);
    const refused = setup(null);
    expect(await refused.lookup('eyJhbGciOiJSUzI1NiJ9.e30.sig')).toBeNull();
    expect(refused.counted).toEqual([]);
  });
});

describe('withTokenSources with sameFormat (the incumbent is another ropc-gateway)', () => {
  it('asks the incumbent about a token of our format only when our store does not know it', async () => {
    const live = record(Date.now() / 1000 + 3600);
    const ours = newToken(newFamilyId());
    const theirs = newToken(newFamilyId());
    const asked: string[] = [];
    const counted: TokenSource[] = [];
    const lookup = withTokenSources({
      ours: async (t) => (t === ours ? live : null),
      isOurs: (t) => parseToken(t) !== null,
      incumbent: {
        lookup: async (t) => {
          asked.push(t);
          return t === theirs ? live : null;
        },
      },
      sameFormat: true,
      count: (s) => counted.push(s),
    });
    expect(await lookup(ours)).toBe(live);
    expect(await lookup(theirs)).toBe(live);
    expect(asked).toEqual([theirs]);
    expect(counted).toEqual(['ours', 'incumbent']);
  });

  it('never takes a store outage for "not ours"', async () => {
    const lookup = withTokenSources({
      ours: async () => {
        throw new Error('store down');
      },
      isOurs: () => true,
      incumbent: { lookup: async () => record(Date.now() / 1000 + 60) },
      sameFormat: true,
      count: () => undefined,
    });
    await expect(lookup(newToken(newFamilyId()))).rejects.toThrow('store down');
  });
});
