/**
 * The time source of the gateway's in-process time decisions (src/app.ts `clock`): the memory
 * token and attempt stores, the token cache, token issuance and `exp` checks at introspection,
 * userinfo and JWT verification, directory locks, client-auth and Basic bridge caches, JWT
 * revocations, the incumbent's cache and breaker. Injected so tests move time forward instead of
 * sleeping through TTLs and lock windows. Redis keeps its own time (key TTLs, lock windows by
 * `TIME`) and the Redis token store and resource path read the system clock, so a moved clock
 * belongs with the memory store, and must never run behind the system clock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The system clock, the default everywhere. */
export const systemClock: Clock = { now: () => Date.now() };
