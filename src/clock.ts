/**
 * The time source of the in-process stores (memory token store, memory attempt store, token
 * cache): injected so tests move time forward instead of sleeping through TTLs and lock windows.
 * Redis keeps its own time (key TTLs); this clock does not reach it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The system clock, the default everywhere. */
export const systemClock: Clock = { now: () => Date.now() };
