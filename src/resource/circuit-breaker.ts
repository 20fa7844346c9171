/**
 * A circuit breaker for one dependency (the incumbent's introspection endpoint,
 * incumbent-introspection.ts), so that while it is down callers fail at once instead of each
 * waiting for its timeout:
 *
 *   closed     every call goes through; `failureThreshold` consecutive failures open it
 *   open       every call is refused at once for `openMs`
 *   half-open  after `openMs`, ONE trial call goes through (the others are still refused):
 *              its success closes the breaker, its failure opens it for another `openMs`
 *
 * Only outages count as failures (no answer, a timeout, an answer that is not RFC 7662); an
 * answer saying a token is inactive is a success. Time comes from `now`, so tests move it.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (at least 1). */
  readonly failureThreshold: number;
  /** How long the breaker stays open before a trial call, ms. */
  readonly openMs: number;
  /** Called when the breaker opens (`true`) and when a trial call closes it again (`false`). */
  readonly onChange?: (open: boolean) => void;
  readonly now?: () => number;
}

export class CircuitBreaker {
  #failures = 0;
  #openedAt: number | undefined;
  #trialInFlight = false;
  readonly #now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!(options.failureThreshold >= 1) || !(options.openMs > 0))
      throw new RangeError('CircuitBreaker needs failureThreshold >= 1 and openMs > 0');
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#now() - this.#openedAt < this.options.openMs ? 'open' : 'half-open';
  }

  /** Whole seconds until a trial call may go through (0 when closed), for Retry-After. */
  retryAfterSeconds(): number {
    if (this.#openedAt === undefined) return 0;
    return Math.max(1, Math.ceil((this.#openedAt + this.options.openMs - this.#now()) / 1000));
  }

  /**
   * Whether a call may go through now. A true answer in the half-open state makes this call
   * the trial: the caller must then report it with {@link succeeded} or {@link failed}.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#trialInFlight = false;
    if (this.#openedAt === undefined) return;
    this.#openedAt = undefined;
    this.options.onChange?.(false);
  }

  failed(): void {
    this.#trialInFlight = false;
    if (this.#openedAt !== undefined) {
      // A failed trial (or a call let through before the breaker opened): open for another period.
      this.#openedAt = this.#now();
      return;
    }
    this.#failures += 1;
    if (this.#failures < this.options.failureThreshold) return;
    this.#openedAt = this.#now();
    this.options.onChange?.(true);
  }
}
