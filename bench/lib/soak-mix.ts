/**
 * The soak's token traffic (`--soak-mix N`, docs/performance.md, "Memory"): beside the
 * resource-path load, N times a second one session's life runs against the gateway under test —
 *
 *   password grant (file validator, one argon2id verification) → the access token on the
 *   resource path → refresh (RFC 6749 §6, rotation on) → the new access token on the resource
 *   path → revoke that access token (RFC 7009) → it answers 401 → revoke the refresh token,
 *   which ends the whole family → the first access token answers 401 too.
 *
 * So every session exercises the token store, the revocation feed (pub/sub) and the resource
 * path's cache or JWT revocation list. A revoked token's 401 is expected and counted apart;
 * anything else outside 2xx, a revoked token still accepted, or a network error is
 * "unexpected". Token values are never logged: a problem is described by step and status.
 */
import type { Credentials } from './services.js';

export interface MixCounts {
  /** Sessions started. */
  sessions: number;
  logins: number;
  refreshes: number;
  revocations: number;
  /** Resource requests with a live token that answered 2xx. */
  resourceOk: number;
  /** Resource requests with a revoked token that answered 401, as they must. */
  revoked401: number;
  /** Anything else: non-2xx where 2xx was due, a revoked token accepted, network errors. */
  unexpected: number;
  /** Sessions not started because `maxInFlight` were still running (the gateway is behind). */
  skipped: number;
}

export interface MixTarget {
  /** The gateway's base URL. */
  readonly url: string;
  readonly creds: Pick<Credentials, 'clientId' | 'clientSecret' | 'user' | 'password'>;
  /** The resource path to call, e.g. /api/items?page=1. */
  readonly resourcePath: string;
  readonly tokenPath: string;
  readonly revocationPath: string;
}

export interface Mix {
  /** The counts since the last call (or the start), and resets them. */
  take(): MixCounts;
  /** The first few unexpected answers, by step and status (never a token). */
  readonly problems: string[];
  /** Sessions allowed to run at once; a tick beyond it is skipped. */
  readonly maxInFlight: number;
  /** Stops starting sessions and waits for those running. */
  stop(): Promise<void>;
}

const zero = (): MixCounts => ({
  sessions: 0,
  logins: 0,
  refreshes: 0,
  revocations: 0,
  resourceOk: 0,
  revoked401: 0,
  unexpected: 0,
  skipped: 0,
});

const MAX_PROBLEMS = 20;

export function startMix(target: MixTarget, perSecond: number, maxInFlight = 16): Mix {
  let counts = zero();
  const problems: string[] = [];
  const running = new Set<Promise<void>>();
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(target.creds.clientId)}:${encodeURIComponent(target.creds.clientSecret)}`).toString('base64')}`;
  const problem = (what: string): void => {
    counts.unexpected++;
    if (problems.length < MAX_PROBLEMS) problems.push(`${new Date().toISOString()} ${what}`);
  };

  const post = async (path: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${target.url}${path}`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = {};
    }
    return { status: res.status, body };
  };

  /** A token grant; its two tokens, or undefined after recording why not. */
  const grant = async (step: string, form: Record<string, string>): Promise<{ access: string; refresh: string } | undefined> => {
    const { status, body } = await post(target.tokenPath, form);
    const access = body['access_token'];
    const refresh = body['refresh_token'];
    if (status !== 200 || typeof access !== 'string' || typeof refresh !== 'string') {
      problem(
        `${step}: ${status} ${typeof body['error'] === 'string' ? body['error'] : ''}${status === 200 ? ' without access_token and refresh_token' : ''}`,
      );
      return undefined;
    }
    return { access, refresh };
  };

  const revoke = async (step: string, token: string): Promise<void> => {
    const { status } = await post(target.revocationPath, { token });
    if (status === 200) counts.revocations++;
    else problem(`${step}: ${status}`);
  };

  const use = async (step: string, token: string, revoked: boolean): Promise<void> => {
    const res = await fetch(`${target.url}${target.resourcePath}`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (!revoked && res.status >= 200 && res.status < 300) counts.resourceOk++;
    else if (revoked && res.status === 401) counts.revoked401++;
    else problem(`${step}: ${res.status}${revoked && res.status < 300 ? ' (a revoked token was accepted)' : ''}`);
  };

  const session = async (): Promise<void> => {
    const first = await grant('password grant', { grant_type: 'password', username: target.creds.user, password: target.creds.password });
    if (!first) return;
    counts.logins++;
    await use('resource, first access token', first.access, false);
    const second = await grant('refresh', { grant_type: 'refresh_token', refresh_token: first.refresh });
    if (!second) return;
    counts.refreshes++;
    await use('resource, refreshed access token', second.access, false);
    await revoke('revoke access token', second.access);
    await use('resource, revoked access token', second.access, true);
    await revoke('revoke refresh token (family)', second.refresh);
    await use('resource, access token of the revoked family', first.access, true);
  };

  const tick = (): void => {
    if (running.size >= maxInFlight) {
      counts.skipped++;
      return;
    }
    counts.sessions++;
    const p: Promise<void> = session()
      .catch((err: unknown) =>
        problem(
          `network: ${err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err)}`,
        ),
      )
      .finally(() => running.delete(p));
    running.add(p);
  };
  const timer = perSecond > 0 ? setInterval(tick, 1000 / perSecond) : undefined;

  return {
    problems,
    maxInFlight,
    take() {
      const out = counts;
      counts = zero();
      return out;
    },
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.allSettled([...running]);
    },
  };
}
