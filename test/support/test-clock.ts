import type { Clock } from '../../src/clock.js';

/**
 * A clock the test moves. By default it runs with the system time plus what `advance` added, so
 * it never runs behind the system clock (which the Redis store and the resource path still read)
 * and records stamped with real time (a store contract's own records) expire when the test says;
 * `TestClock.frozen()` stands still between advances, for exact durations of a component alone or
 * of lock windows (a gateway's tokens live an hour by default, ahead of any frozen clock).
 */
export class TestClock implements Clock {
  #offset = 0;
  readonly #frozenAt: number | undefined;

  constructor(frozenAt?: number) {
    this.#frozenAt = frozenAt;
  }

  /** A clock that stands at `at` (default now) until advanced. */
  static frozen(at = Date.now()): TestClock {
    return new TestClock(at);
  }

  now(): number {
    return (this.#frozenAt ?? Date.now()) + this.#offset;
  }

  /** Moves the clock `ms` forward. */
  advance(ms: number): void {
    this.#offset += Math.max(0, ms);
  }
}
