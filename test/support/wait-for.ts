/**
 * Waiting in tests: `waitFor` polls for a condition (for hooks, where expect.poll is not
 * allowed); `sleep` is for pacing and for giving a process time to do something a test checks it
 * did NOT do — never in place of a condition that can be polled.
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true, or throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Polls `read` every 50 ms until `ok` holds, for at most `timeoutMs`; resolves with the last value read. */
export async function settle<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(50);
    value = await read();
  }
  return value;
}
