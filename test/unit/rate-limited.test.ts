/** The rate limit of the client-error log line (src/http/connections.ts): N per second, then a count of what was suppressed. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rateLimited } from '../../src/http/connections.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('rateLimited', () => {
  it('passes at most N entries a second and reports the suppressed count with the next one', () => {
    const lines: [number, number][] = [];
    const log = rateLimited<number>(3, (entry, suppressed) => lines.push([entry, suppressed]));
    for (let i = 1; i <= 10; i += 1) log(i);
    expect(lines).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    vi.advanceTimersByTime(1000);
    log(11);
    log(12);
    expect(lines.slice(3)).toEqual([
      [11, 7],
      [12, 0],
    ]);
  });
});
