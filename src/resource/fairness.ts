/**
 * Fair shares of the upstream connections (docs/operations.md, "Upstream fairness"): at most
 * `upstream.maxConcurrentPerSubject` requests of one subject, and on public routes at most
 * `upstream.maxConcurrentPerIp` of one client IP, are in flight to the upstreams at once. A
 * request beyond its caller's share is refused with 429 and `Retry-After` before anything
 * is forwarded (and before `100 Continue`), so one caller with many slow uploads cannot hold
 * every pooled upstream connection (`upstream.maxSockets`) while others wait.
 *
 * A slot is held from forwarding until the client's answer closes. WebSocket upgrades are not
 * counted: once upgraded they hold no pooled connection.
 */
import { TooManyRequestsError } from '../oauth/errors.js';
import type { Caller, Forwarder } from './forwarder.js';
import { onceClosed } from '../http/once-closed.js';
import { ipBucket } from '../ip-address.js';

export interface FairShareOptions {
  /** 0 = no limit. */
  readonly perSubject: number;
  /** 0 = no limit. */
  readonly perIp: number;
  readonly onThrottled?: (by: 'subject' | 'ip') => void;
}

/** Seconds a throttled caller is told to wait: slots free as soon as one of its requests ends. */
const RETRY_AFTER_SECONDS = 1;

/** Counts in-flight requests per key; a key with none left is forgotten. */
class InFlight {
  private readonly counts = new Map<string, number>();

  /** Takes a slot for `key`, or returns undefined when it already holds `max`. */
  take(key: string, max: number): (() => void) | undefined {
    const held = this.counts.get(key) ?? 0;
    if (held >= max) return undefined;
    this.counts.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }
}

export function withFairShares(inner: Forwarder, options: FairShareOptions): Forwarder {
  if (options.perSubject <= 0 && options.perIp <= 0) return inner;
  const inFlight = new InFlight();
  return {
    web(req, res, upstream, caller) {
      const share = shareOf(caller, options);
      if (share) {
        const release = inFlight.take(share.key, share.max);
        if (!release) {
          options.onThrottled?.(share.by);
          throw new TooManyRequestsError('too many requests of this caller are in flight; retry later', RETRY_AFTER_SECONDS);
        }
        onceClosed(res, release);
      }
      inner.web(req, res, upstream, caller);
    },
    ws: (req, socket, head, upstream, outcome) => inner.ws(req, socket, head, upstream, outcome),
    close: () => inner.close(),
  };
}

function shareOf(caller: Caller | undefined, options: FairShareOptions): { key: string; max: number; by: 'subject' | 'ip' } | undefined {
  if (!caller) return undefined;
  if (caller.subject !== undefined)
    return options.perSubject > 0 ? { key: `s\0${caller.subject}`, max: options.perSubject, by: 'subject' } : undefined;
  // Per client as the lockout counts one (an IPv6 address by its /64): src/ip-address.ts.
  return options.perIp > 0 ? { key: `i\0${ipBucket(caller.clientIp)}`, max: options.perIp, by: 'ip' } : undefined;
}
