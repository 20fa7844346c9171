/**
 * Password and client-secret hashes: argon2id (new hashes) and bcrypt (verifying existing ones).
 *
 * Every verification — client secrets, users-file passwords and the dummy verifications of
 * unknown or locked users — runs through one process-wide limiter: at most
 * `security.hashConcurrency` at once, at most `security.hashQueue` waiting, and beyond that
 * TemporarilyUnavailableError (503 `temporarily_unavailable`), so a flood of guesses cannot
 * take every core and starve honest logins (docs/security.md). It is process-wide because
 * the CPU and the memory (64 MiB per argon2id verification) it protects are.
 */
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { TemporarilyUnavailableError } from '../oauth/errors.js';

/** argon2id with the RFC 9106 second recommended option (m=64 MiB, t=3, p=4). */
const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 } as const;

export interface HashLimits {
  /** Verifications running at once (`security.hashConcurrency`). */
  readonly concurrency: number;
  /** Verifications waiting for a slot (`security.hashQueue`); beyond: 503. */
  readonly queue: number;
}

let limits: HashLimits = { concurrency: 4, queue: 32 };
let running = 0;
const waiting: (() => void)[] = [];

/** Sets the limits of every later verification (app.ts, from the configuration). */
export function setHashLimits(next: HashLimits): void {
  limits = next;
}

/** Verifications running and waiting now (metrics, tests). */
export function hashLoad(): { readonly running: number; readonly waiting: number } {
  return { running, waiting: waiting.length };
}

export function isSupportedHash(hash: string): boolean {
  return /^\$argon2id\$/.test(hash) || /^\$2[aby]\$\d\d\$/.test(hash);
}

export async function hashSecret(secret: string): Promise<string> {
  return argon2Hash(secret, ARGON2_OPTIONS);
}

/**
 * True when `secret` matches `hash`; false for a wrong secret or a hash of an unknown kind.
 * @throws TemporarilyUnavailableError when `security.hashQueue` verifications already wait.
 */
export async function verifySecret(hash: string, secret: string): Promise<boolean> {
  return limited(async () => {
    try {
      if (hash.startsWith('$argon2id$')) return await argon2Verify(hash, secret);
      if (/^\$2[aby]\$/.test(hash)) return await bcrypt.compare(secret, hash);
    } catch {
      return false;
    }
    return false;
  });
}

/**
 * A relative estimate of what verifying `hash` costs, to pick the most expensive kind of a set
 * (undefined for an unknown kind). Calibrated on this code's libraries: bcryptjs doubles per
 * cost step, ~100 ms at cost 10; argon2id scales with memory × passes, ~90 ms at m=64 MiB, t=3.
 */
export function hashCost(hash: string): number | undefined {
  const bcryptCost = /^\$2[aby]\$(\d\d)\$/.exec(hash)?.[1];
  if (bcryptCost !== undefined) return 2 ** Number(bcryptCost) * 0.1;
  const argon2 = /^\$argon2id\$v=\d+\$([^$]+)\$/.exec(hash)?.[1];
  if (argon2 === undefined) return undefined;
  const params = new Map(argon2.split(',').map((p) => p.split('=') as [string, string]));
  const m = Number(params.get('m'));
  const t = Number(params.get('t'));
  return Number.isFinite(m) && Number.isFinite(t) ? m * t * 0.00045 : undefined;
}

/** The hash of `hashes` whose verification costs the most ({@link hashCost}); undefined for none. */
export function mostExpensiveHash(hashes: Iterable<string | undefined>): string | undefined {
  let best: string | undefined;
  let bestCost = -1;
  for (const hash of hashes) {
    const cost = hash === undefined ? undefined : hashCost(hash);
    if (cost !== undefined && cost > bestCost) [best, bestCost] = [hash, cost];
  }
  return best;
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of one verification against a hash no secret matches, so an unknown user
 * answers in about the time of a wrong password (docs/security.md). Pass a real hash of the
 * store (argon2id or bcrypt) to mirror its kind and cost parameters exactly: it is verified
 * against a fixed string and the result is discarded. Without one (or with a hash of an unknown
 * kind) it uses an argon2id hash with the parameters of {@link hashSecret}.
 * @throws TemporarilyUnavailableError as {@link verifySecret}.
 */
export async function burnVerification(like?: string): Promise<void> {
  const target = like !== undefined && isSupportedHash(like) ? like : await dummyHash();
  await verifySecret(target, 'not the secret');
}

function dummyHash(): Promise<string> {
  // A failed attempt is not cached, so one transient failure does not disable the burn forever.
  dummy ??= hashSecret('ropc-gateway dummy secret').catch((err: unknown) => {
    dummy = undefined;
    throw err;
  });
  return dummy;
}

/** Runs `verify` in a slot of the limiter, waiting in its queue when all are taken. */
async function limited<T>(verify: () => Promise<T>): Promise<T> {
  if (running < limits.concurrency) {
    running++;
  } else {
    if (waiting.length >= limits.queue)
      throw new TemporarilyUnavailableError('too many password verifications in progress, retry shortly', 1);
    // The slot is handed over by the verification that ends (running stays as it is).
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  try {
    return await verify();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}
