/**
 * The contract every token store must pass (docs/architecture.md; one contract suite per interface): run it against each
 * implementation (memory, Redis). It only uses the {@link TokenStore} interface, plus an
 * optional text dump of the backend to prove that no token is kept in clear.
 *
 * Concurrent rotation: of N calls with one refresh token exactly one returns `rotated`. The
 * stores here answer the second `reused` (which revokes the family, the winner's new tokens
 * too) and the rest `invalid` (the family is gone by then); the contract requires exactly one
 * `rotated`, at least one `reused` and nothing but `reused`/`invalid` for the others.
 *
 * Reuse grace: with `graceSeconds` > 0, the losers of that race answer `superseded` and
 * `settleRotated` hands each the winner's successor; after the window a reuse revokes.
 *
 * Revocation events: every revocation made through an instance reaches its watchers before
 * the revoking call resolves; a store shared by several processes (Redis) also delivers the
 * revocations of the others (`peer`), as the backend reports them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken, newFamilyId, newToken } from '../../src/tokens/token-value.js';
import type { GrantRecord, NewFamily, RefreshRecord, RevocationEvent, TokenStore, TokenToIssue } from '../../src/tokens/types.js';
import { sleep } from '../support/wait-for.js';

export interface StoreUnderTest {
  readonly store: TokenStore;
  /** Called after `store.close()`: removes what the store left behind. */
  cleanup(): Promise<void>;
  /** Everything the backend holds for this store, as text; omit to skip the clear-token check. */
  dump?(): Promise<string>;
  /** Another instance on the same backend (another replica); omit for one-process stores. Closed by `cleanup`. */
  peer?(): Promise<TokenStore>;
  /**
   * Lets `ms` of the store's time pass: a store with an injected clock moves it; omit to wait
   * for real (Redis keeps its own time: its TTL cases are the contract's only real waits).
   */
  elapse?(ms: number): Promise<void>;
}

/** Seconds since the epoch, as the token endpoint computes them. */
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface IssueOptions {
  readonly sub?: string;
  /** Lifetimes in seconds from now. */
  readonly accessTtl?: number;
  readonly refreshTtl?: number;
  readonly familyTtl?: number;
  /** false: a family without a refresh token. */
  readonly withRefresh?: boolean;
}

interface Issued {
  readonly family: NewFamily;
  readonly access: string;
  readonly refresh: string;
}

function grant(familyId: string, sub: string, ttl: number): GrantRecord {
  const iat = nowSeconds();
  return {
    sub,
    clientId: 'ro_client',
    scope: ['edit', 'read'],
    groups: ['editors'],
    attributes: { email: `${sub}@example.org`, displayName: 'Jöe Ünïcode 😀' },
    validator: 'local',
    familyId,
    iat,
    exp: iat + ttl,
  };
}

function issueAccess(familyId: string, sub: string, ttl = 3600): TokenToIssue {
  return { token: newToken(familyId), record: grant(familyId, sub, ttl) };
}

function issueRefresh(familyId: string, sub: string, ttl: number, familyExp: number): TokenToIssue<RefreshRecord> {
  return { token: newToken(familyId), record: { ...grant(familyId, sub, ttl), familyExp } };
}

/** A new family as the password grant builds it. */
function issue(options: IssueOptions = {}): Issued {
  const { sub = 'joe', accessTtl = 3600, familyTtl = 86_400, withRefresh = true } = options;
  const familyId = newFamilyId();
  const exp = nowSeconds() + familyTtl;
  const access = issueAccess(familyId, sub, accessTtl);
  const refresh = issueRefresh(familyId, sub, options.refreshTtl ?? familyTtl, exp);
  const family: NewFamily = { familyId, sub, clientId: 'ro_client', exp, access, ...(withRefresh ? { refresh } : {}) };
  return { family, access: access.token, refresh: withRefresh ? refresh.token : '' };
}

/** The tokens a refresh issues for `issued`'s family; without a new refresh token when `rotate` is false. */
function next(issued: Issued, rotate = true): { access: TokenToIssue; refresh?: TokenToIssue<RefreshRecord> } {
  const { familyId, sub, exp } = issued.family;
  const access = issueAccess(familyId, sub);
  return rotate ? { access, refresh: issueRefresh(familyId, sub, exp - nowSeconds(), exp) } : { access };
}

/** Registers the token store contract as a `describe` block; `make` runs before each test. */
export function tokenStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`TokenStore contract: ${name}`, () => {
    let fixture: StoreUnderTest;
    let store: TokenStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });

    afterEach(async () => {
      await store?.close();
      await fixture?.cleanup();
    });

    /** `ms` of the store's time: the fixture's clock, or a real wait. */
    const elapse = (ms: number): Promise<void> => (fixture.elapse ? fixture.elapse(ms) : sleep(ms));

    async function created(options: IssueOptions = {}): Promise<Issued> {
      const issued = issue(options);
      await store.createFamily(issued.family);
      return issued;
    }

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('returns the records of a new family', async () => {
      const issued = await created();
      expect(await store.getAccess(issued.access)).toEqual(issued.family.access.record);
      expect(await store.getRefresh(issued.refresh)).toEqual(issued.family.refresh?.record);
    });

    it('keeps access and refresh tokens apart', async () => {
      const issued = await created();
      expect(await store.getAccess(issued.refresh)).toBeNull();
      expect(await store.getRefresh(issued.access)).toBeNull();
      expect(await store.rotate(issued.access, next(issued))).toBe('invalid');
      expect(await store.getAccess(issued.access)).not.toBeNull();
    });

    it('stores a family without a refresh token', async () => {
      const issued = await created({ withRefresh: false });
      expect(await store.getAccess(issued.access)).toEqual(issued.family.access.record);
      await store.revokeFamily(issued.family.familyId);
      expect(await store.getAccess(issued.access)).toBeNull();
    });

    it('answers null or invalid for unknown tokens', async () => {
      await created();
      const unknown = newToken(newFamilyId());
      expect(await store.getAccess(unknown)).toBeNull();
      expect(await store.getRefresh(unknown)).toBeNull();
      expect(await store.revokeIfRotated(unknown)).toBeNull();
      expect(await store.rotate(unknown, { access: issueAccess(unknown.slice(0, 22), 'joe') })).toBe('invalid');
    });

    it.each([
      ['empty', ''],
      ['short', 'abc'],
      ['one char too long', `${newToken(newFamilyId())}A`],
      ['one char too short', newToken(newFamilyId()).slice(1)],
      ['not base64url', `${newToken(newFamilyId()).slice(0, 64)}.`],
      ['with a newline', `${newToken(newFamilyId()).slice(0, 64)}\n`],
      ['with a brace', `{${newToken(newFamilyId()).slice(1)}`],
    ])('answers null or invalid for a malformed token (%s)', async (_, token) => {
      expect(await store.getAccess(token)).toBeNull();
      expect(await store.getRefresh(token)).toBeNull();
      expect(await store.revokeIfRotated(token)).toBeNull();
      expect(await store.rotate(token, { access: issueAccess(newFamilyId(), 'joe') })).toBe('invalid');
    });

    it('does not let a forged secret with a real family id touch the family', async () => {
      const issued = await created();
      const forged = newToken(issued.family.familyId);
      expect(await store.getAccess(forged)).toBeNull();
      expect(await store.getRefresh(forged)).toBeNull();
      expect(await store.revokeIfRotated(forged)).toBeNull();
      expect(await store.rotate(forged, next(issued))).toBe('invalid');
      expect(await store.getAccess(issued.access)).not.toBeNull();
      expect(await store.getRefresh(issued.refresh)).not.toBeNull();
    });

    it('refuses to store a token of another family', async () => {
      const issued = issue();
      const stranger = { ...issued.family, access: issueAccess(newFamilyId(), 'joe') };
      await expect(store.createFamily(stranger)).rejects.toThrow(TypeError);
      const mine = await created();
      await expect(store.rotate(mine.refresh, { access: issueAccess(newFamilyId(), 'joe') })).rejects.toThrow(TypeError);
    });

    it('expires records at their exp', async () => {
      // Both families' tokens end 1–2 s from now; B's family lives on, so B's refresh record is
      // still kept (for reuse detection) but no longer usable.
      const a = await created({ accessTtl: 2, familyTtl: 2 });
      const b = await created({ accessTtl: 2, refreshTtl: 2, familyTtl: 600 });
      expect(await store.getAccess(a.access)).not.toBeNull();
      expect(await store.getRefresh(a.refresh)).not.toBeNull();
      expect(await store.getRefresh(b.refresh)).not.toBeNull();
      await elapse(a.family.access.record.exp * 1000 - Date.now() + 100);
      expect(await store.getAccess(a.access)).toBeNull();
      expect(await store.getRefresh(a.refresh)).toBeNull();
      expect(await store.rotate(a.refresh, next(a))).toBe('invalid');
      expect(await store.getAccess(b.access)).toBeNull();
      expect(await store.getRefresh(b.refresh)).toBeNull();
      expect(await store.rotate(b.refresh, next(b))).toBe('invalid');
      expect(await store.revokeIfRotated(b.refresh)).toBeNull();
    });

    it('rotates: the new refresh token replaces the presented one', async () => {
      const issued = await created();
      const tokens = next(issued);
      expect(await store.rotate(issued.refresh, tokens)).toBe('rotated');
      expect(await store.getRefresh(issued.refresh)).toBeNull();
      expect(await store.getRefresh(tokens.refresh!.token)).toEqual(tokens.refresh!.record);
      expect(await store.getAccess(tokens.access.token)).toEqual(tokens.access.record);
      // Rotation does not end the access tokens issued before.
      expect(await store.getAccess(issued.access)).not.toBeNull();
    });

    it('revokes the whole family when a rotated refresh token is rotated again', async () => {
      const issued = await created();
      const first = next(issued);
      expect(await store.rotate(issued.refresh, first)).toBe('rotated');
      const second = next(issued);
      expect(await store.rotate(issued.refresh, second)).toBe('reused');
      for (const token of [issued.access, first.access.token, second.access.token]) {
        expect(await store.getAccess(token)).toBeNull();
      }
      expect(await store.getRefresh(first.refresh!.token)).toBeNull();
      expect(await store.getRefresh(second.refresh!.token)).toBeNull();
      expect(await store.rotate(first.refresh!.token, next(issued))).toBe('invalid');
    });

    it('revokeIfRotated revokes the family of a rotated token only', async () => {
      const issued = await created();
      const tokens = next(issued);
      await store.rotate(issued.refresh, tokens);
      expect(await store.revokeIfRotated(tokens.refresh!.token)).toBeNull();
      expect(await store.getRefresh(tokens.refresh!.token)).not.toBeNull();
      expect(await store.revokeIfRotated(issued.refresh)).toEqual(issued.family.refresh?.record);
      expect(await store.getRefresh(tokens.refresh!.token)).toBeNull();
      expect(await store.getAccess(tokens.access.token)).toBeNull();
      expect(await store.getAccess(issued.access)).toBeNull();
      expect(await store.revokeIfRotated(issued.refresh)).toBeNull();
    });

    it('keeps the presented refresh token current when rotation is off', async () => {
      const issued = await created();
      const first = next(issued, false);
      const second = next(issued, false);
      expect(await store.rotate(issued.refresh, first)).toBe('rotated');
      expect(await store.rotate(issued.refresh, second)).toBe('rotated');
      expect(await store.getRefresh(issued.refresh)).toEqual(issued.family.refresh?.record);
      expect(await store.getAccess(first.access.token)).toEqual(first.access.record);
      expect(await store.revokeIfRotated(issued.refresh)).toBeNull();
      // The new access tokens belong to the family.
      await store.revokeFamily(issued.family.familyId);
      expect(await store.getAccess(first.access.token)).toBeNull();
      expect(await store.getAccess(second.access.token)).toBeNull();
    });

    it('lets exactly one of 25 concurrent rotations succeed', async () => {
      const issued = await created();
      const attempts = Array.from({ length: 25 }, () => next(issued));
      const results = await Promise.all(attempts.map((tokens) => store.rotate(issued.refresh, tokens)));
      const count = (r: string): number => results.filter((x) => x === r).length;
      expect(count('rotated')).toBe(1);
      expect(count('reused')).toBeGreaterThanOrEqual(1);
      expect(count('reused') + count('invalid')).toBe(24);
      // The reuse revoked the family, the winner's tokens included.
      const winner = attempts[results.indexOf('rotated')]!;
      expect(await store.getAccess(winner.access.token)).toBeNull();
      expect(await store.getRefresh(winner.refresh!.token)).toBeNull();
    });

    it('revokeFamily removes every token of the family and ignores unknown ids', async () => {
      const issued = await created();
      const tokens = next(issued);
      await store.rotate(issued.refresh, tokens);
      const other = await created();
      await store.revokeFamily(issued.family.familyId);
      expect(await store.getAccess(issued.access)).toBeNull();
      expect(await store.getAccess(tokens.access.token)).toBeNull();
      expect(await store.getRefresh(tokens.refresh!.token)).toBeNull();
      expect(await store.rotate(tokens.refresh!.token, next(issued))).toBe('invalid');
      expect(await store.getAccess(other.access)).not.toBeNull();
      await expect(store.revokeFamily(newFamilyId())).resolves.toBe(false);
      await expect(store.revokeFamily('not a family {id}')).resolves.toBe(false);
      await expect(store.revokeFamily('')).resolves.toBe(false);
      await expect(store.revokeFamily(issued.family.familyId)).resolves.toBe(false);
      await expect(store.revokeFamily(other.family.familyId)).resolves.toBe(true);
    });

    it('describeToken tells access from current and rotated refresh tokens', async () => {
      const issued = await created();
      const tokens = next(issued);
      expect(await store.describeToken(issued.access)).toEqual({ type: 'access', record: issued.family.access.record });
      expect(await store.describeToken(issued.refresh)).toEqual({ type: 'refresh', record: issued.family.refresh?.record, current: true });
      await store.rotate(issued.refresh, tokens);
      expect(await store.describeToken(issued.refresh)).toEqual({ type: 'refresh', record: issued.family.refresh?.record, current: false });
      expect(await store.describeToken(tokens.refresh!.token)).toEqual({ type: 'refresh', record: tokens.refresh!.record, current: true });
      expect(await store.describeToken(tokens.access.token)).toEqual({ type: 'access', record: tokens.access.record });
      for (const unknown of [newToken(newFamilyId()), newToken(issued.family.familyId), '', 'abc', `${issued.access}A`]) {
        expect(await store.describeToken(unknown)).toBeNull();
      }
      await store.revokeFamily(issued.family.familyId);
      for (const token of [issued.access, issued.refresh, tokens.access.token, tokens.refresh!.token])
        expect(await store.describeToken(token)).toBeNull();
    });

    it('describeToken forgets expired access tokens', async () => {
      const issued = await created({ accessTtl: 1, familyTtl: 600 });
      await elapse(issued.family.access.record.exp * 1000 - Date.now() + 100);
      expect(await store.describeToken(issued.access)).toBeNull();
      expect((await store.describeToken(issued.refresh))?.type).toBe('refresh');
    });

    it('revokeAccess revokes one access token, not its family', async () => {
      const issued = await created();
      const tokens = next(issued);
      await store.rotate(issued.refresh, tokens);
      expect(await store.revokeAccess(issued.access)).toBe(true);
      expect(await store.getAccess(issued.access)).toBeNull();
      expect(await store.describeToken(issued.access)).toBeNull();
      expect(await store.getAccess(tokens.access.token)).not.toBeNull();
      expect(await store.getRefresh(tokens.refresh!.token)).not.toBeNull();
      expect(await store.revokeAccess(issued.access)).toBe(false);
      // A refresh token is not an access token; unknown and malformed tokens are ignored.
      expect(await store.revokeAccess(tokens.refresh!.token)).toBe(false);
      expect(await store.getRefresh(tokens.refresh!.token)).not.toBeNull();
      expect(await store.revokeAccess(newToken(issued.family.familyId))).toBe(false);
      expect(await store.revokeAccess('abc')).toBe(false);
      // The family still ends as a whole.
      expect(await store.revokeFamily(issued.family.familyId)).toBe(true);
      expect(await store.getAccess(tokens.access.token)).toBeNull();
    });

    it("getAccessByRef and revokeAccessByRef find an access token by family id and hash (a JWT access token's sid and jti)", async () => {
      const issued = await created();
      const ref = { familyId: issued.family.familyId, hash: hashToken(issued.access) };
      expect(await store.getAccessByRef(ref)).toEqual(issued.family.access.record);
      // The hash under another family, the refresh token's hash, and malformed refs name nothing.
      expect(await store.getAccessByRef({ familyId: newFamilyId(), hash: ref.hash })).toBeNull();
      expect(await store.getAccessByRef({ familyId: ref.familyId, hash: hashToken(issued.refresh) })).toBeNull();
      expect(await store.getAccessByRef({ familyId: 'x', hash: 'y' })).toBeNull();
      const events: RevocationEvent[] = [];
      const watch = store.watchRevocations((e) => events.push(e));
      expect(await store.revokeAccessByRef({ familyId: ref.familyId, hash: hashToken(issued.refresh) })).toBe(false);
      expect(await store.revokeAccessByRef(ref)).toBe(true);
      expect(events).toContainEqual({ kind: 'token', hash: ref.hash });
      expect(await store.getAccessByRef(ref)).toBeNull();
      expect(await store.getAccess(issued.access)).toBeNull();
      expect(await store.revokeAccessByRef(ref)).toBe(false);
      expect(await store.getRefresh(issued.refresh)).not.toBeNull();
      await watch.close();
    });

    it('tells its watchers of every revocation before the revoking call resolves', async () => {
      const events: RevocationEvent[] = [];
      const watch = store.watchRevocations((event) => events.push(event));
      // What each call delivered, once each: a store may deliver an event twice (its own
      // revocation at once, then the pub/sub echo), and an echo of an earlier call is dropped.
      const earlier = new Set<string>();
      const taken = (): RevocationEvent[] => {
        const fresh: RevocationEvent[] = [];
        for (const e of events.splice(0)) {
          if (e.kind === 'reset' || earlier.has(JSON.stringify(e))) continue;
          earlier.add(JSON.stringify(e));
          fresh.push(e);
        }
        return fresh;
      };

      const a = await created();
      expect(await store.revokeAccess(a.access)).toBe(true);
      expect(taken()).toEqual([{ kind: 'token', hash: hashToken(a.access) }]);
      await store.revokeFamily(a.family.familyId);
      expect(taken()).toEqual([{ kind: 'family', familyId: a.family.familyId }]);
      await store.revokeFamily(a.family.familyId);
      expect(taken()).toEqual([]);
      await store.revokeFamily(newFamilyId());
      expect(taken()).toEqual([]);

      const b = await created();
      await store.rotate(b.refresh, next(b));
      expect(taken()).toEqual([]);
      expect(await store.rotate(b.refresh, next(b))).toBe('reused');
      expect(taken()).toEqual([{ kind: 'family', familyId: b.family.familyId }]);

      const c = await created();
      await store.rotate(c.refresh, next(c));
      expect((await store.revokeIfRotated(c.refresh))?.familyId).toBe(c.family.familyId);
      expect(taken()).toEqual([{ kind: 'family', familyId: c.family.familyId }]);

      const d = [await created({ sub: 'dora' }), await created({ sub: 'dora' })];
      expect(await store.revokeSubject('dora')).toBe(2);
      const revoked = taken();
      expect(revoked).toHaveLength(2);
      expect(revoked).toEqual(expect.arrayContaining(d.map((x) => ({ kind: 'family', familyId: x.family.familyId }))));

      await watch.close();
      const e = await created();
      await store.revokeFamily(e.family.familyId);
      await sleep(50);
      expect(taken()).toEqual([]);
    });

    it('delivers the revocations of another instance on the same backend', async (context) => {
      if (!fixture.peer) return context.skip();
      const peer = await fixture.peer();
      const events: RevocationEvent[] = [];
      const watch = store.watchRevocations((event) => events.push(event));
      await expect.poll(() => watch.live, { timeout: 5000, interval: 20 }).toBe(true);
      const issued = await created();
      expect(await peer.revokeAccess(issued.access)).toBe(true);
      expect(await peer.revokeFamily(issued.family.familyId)).toBe(true);
      await expect
        .poll(() => events.filter((e) => e.kind !== 'reset'), { timeout: 2000, interval: 10 })
        .toEqual([
          { kind: 'token', hash: hashToken(issued.access) },
          { kind: 'family', familyId: issued.family.familyId },
        ]);
      await watch.close();
    });

    it('revokeSubject revokes every live family of the subject and nobody else', async () => {
      const joe = [await created({ sub: 'joe' }), await created({ sub: 'joe' }), await created({ sub: 'joe', withRefresh: false })];
      const gone = await created({ sub: 'joe' });
      await store.revokeFamily(gone.family.familyId);
      const gina = await created({ sub: 'gina' });
      const rotated = next(joe[0]!);
      await store.rotate(joe[0]!.refresh, rotated);

      expect(await store.revokeSubject('joe')).toBe(3);
      for (const issued of joe) expect(await store.getAccess(issued.access)).toBeNull();
      expect(await store.getAccess(rotated.access.token)).toBeNull();
      expect(await store.getRefresh(rotated.refresh!.token)).toBeNull();
      expect(await store.getRefresh(joe[1]!.refresh)).toBeNull();
      expect(await store.getAccess(gina.access)).not.toBeNull();
      expect(await store.getRefresh(gina.refresh)).not.toBeNull();
      expect(await store.revokeSubject('joe')).toBe(0);
      expect(await store.revokeSubject('nobody')).toBe(0);
      // The subject can sign in again afterwards, and that family is revocable too.
      await created({ sub: 'joe' });
      expect(await store.revokeSubject('joe')).toBe(1);
    });

    describe('reuse grace (oauth.refreshReuseGraceSeconds)', () => {
      const grace = { graceSeconds: 30 };

      it('answers a concurrent rotation with the same successor, and the family lives', async () => {
        const issued = await created();
        const tokens = next(issued);
        expect(await store.rotate(issued.refresh, tokens, grace)).toBe('rotated');
        // The loser of the race: nothing is written, nothing revoked.
        const loser = next(issued);
        expect(await store.rotate(issued.refresh, loser, grace)).toBe('superseded');
        expect(await store.getAccess(loser.access.token)).toBeNull();
        expect(await store.settleRotated(issued.refresh, 'ro_client', 30)).toEqual({ kind: 'replay', successor: tokens });
        expect(await store.settleRotated(issued.refresh, 'ro_client', 30)).toEqual({ kind: 'replay', successor: tokens });
        expect(await store.getRefresh(tokens.refresh!.token)).toEqual(tokens.refresh!.record);
        expect(await store.getAccess(tokens.access.token)).toEqual(tokens.access.record);
        expect(await store.getAccess(issued.access)).not.toBeNull();
        // The successor rotates as usual.
        expect(await store.rotate(tokens.refresh!.token, next(issued), grace)).toBe('rotated');
      });

      it('lets one of 20 concurrent rotations win and hands the others its successor', async () => {
        const issued = await created();
        const attempts = Array.from({ length: 20 }, () => next(issued));
        const results = await Promise.all(attempts.map((tokens) => store.rotate(issued.refresh, tokens, grace)));
        expect(results.filter((r) => r === 'rotated')).toHaveLength(1);
        expect(results.filter((r) => r === 'superseded')).toHaveLength(19);
        const winner = attempts[results.indexOf('rotated')]!;
        const replays = await Promise.all(attempts.map(() => store.settleRotated(issued.refresh, 'ro_client', 30)));
        for (const replay of replays) expect(replay).toEqual({ kind: 'replay', successor: winner });
        expect(await store.getRefresh(winner.refresh!.token)).not.toBeNull();
      });

      it('gives the same successor through another instance on the same backend', async (context) => {
        if (!fixture.peer) return context.skip();
        const peer = await fixture.peer();
        const issued = await created();
        const attempts = Array.from({ length: 20 }, () => next(issued));
        const results = await Promise.all(attempts.map((tokens, i) => (i % 2 ? peer : store).rotate(issued.refresh, tokens, grace)));
        expect(results.filter((r) => r === 'rotated')).toHaveLength(1);
        const winner = attempts[results.indexOf('rotated')]!;
        expect(await peer.settleRotated(issued.refresh, 'ro_client', 30)).toEqual({ kind: 'replay', successor: winner });
      });

      it('revokes the family when another client presents the rotated token', async () => {
        const issued = await created();
        const tokens = next(issued);
        await store.rotate(issued.refresh, tokens, grace);
        expect(await store.settleRotated(issued.refresh, 'other_client', 30)).toEqual({
          kind: 'reused',
          record: issued.family.refresh?.record,
        });
        expect(await store.getRefresh(tokens.refresh!.token)).toBeNull();
        expect(await store.getAccess(tokens.access.token)).toBeNull();
      });

      it('replays only the token rotated last', async () => {
        const issued = await created();
        const first = next(issued);
        await store.rotate(issued.refresh, first, grace);
        const second = next(issued);
        await store.rotate(first.refresh!.token, second, grace);
        expect(await store.rotate(issued.refresh, next(issued), grace)).toBe('reused');
        expect(await store.getRefresh(second.refresh!.token)).toBeNull();
      });

      it('revokes when the grace is 0 at the time of the reuse', async () => {
        const issued = await created();
        const tokens = next(issued);
        await store.rotate(issued.refresh, tokens, grace);
        expect(await store.settleRotated(issued.refresh, 'ro_client', 0)).toEqual({
          kind: 'reused',
          record: issued.family.refresh?.record,
        });
        expect(await store.getRefresh(tokens.refresh!.token)).toBeNull();
      });

      it("stores no successor for a rotation without grace (today's strict behaviour)", async () => {
        const issued = await created();
        const tokens = next(issued);
        await store.rotate(issued.refresh, tokens);
        expect(await store.settleRotated(issued.refresh, 'ro_client', 30)).toEqual({
          kind: 'reused',
          record: issued.family.refresh?.record,
        });
        expect(await store.getAccess(tokens.access.token)).toBeNull();
      });

      it('settles current and unknown tokens as null, touching nothing', async () => {
        const issued = await created();
        expect(await store.settleRotated(issued.refresh, 'ro_client', 30)).toBeNull();
        expect(await store.settleRotated(newToken(newFamilyId()), 'ro_client', 30)).toBeNull();
        expect(await store.settleRotated('not-a-token', 'ro_client', 30)).toBeNull();
        expect(await store.getRefresh(issued.refresh)).not.toBeNull();
      });

      it('revokes on reuse after the window', async () => {
        const issued = await created();
        const tokens = next(issued);
        await store.rotate(issued.refresh, tokens, { graceSeconds: 1 });
        await elapse(1100);
        expect(await store.rotate(issued.refresh, next(issued), { graceSeconds: 1 })).toBe('reused');
        expect(await store.getRefresh(tokens.refresh!.token)).toBeNull();
        expect(await store.settleRotated(issued.refresh, 'ro_client', 1)).toBeNull();
      });

      it('revocation ends the grace too', async () => {
        const issued = await created();
        await store.rotate(issued.refresh, next(issued), grace);
        await store.revokeFamily(issued.family.familyId);
        expect(await store.settleRotated(issued.refresh, 'ro_client', 30)).toBeNull();
      });

      it('keeps the successor only sealed', async (context) => {
        if (!fixture.dump) return context.skip();
        const issued = await created();
        const tokens = next(issued);
        await store.rotate(issued.refresh, tokens, grace);
        const dump = await fixture.dump();
        for (const token of [issued.refresh, tokens.access.token, tokens.refresh!.token]) expect(dump).not.toContain(token.slice(22));
      });
    });

    it('never keeps a token in clear', async (context) => {
      if (!fixture.dump) return context.skip();
      const issued = await created();
      const rotated = next(issued);
      await store.rotate(issued.refresh, rotated);
      const kept = next(issued, false);
      await store.rotate(rotated.refresh!.token, kept);
      const dump = await fixture.dump();
      // The dump is real: it holds the hashes the records are kept under.
      expect(dump).toContain(hashToken(issued.access));
      for (const token of [issued.access, issued.refresh, rotated.access.token, rotated.refresh!.token, kept.access.token]) {
        // The family id prefix is public by design; the 43-character secret must not appear.
        expect(dump).not.toContain(token.slice(22));
      }
    });
  });
}
