/**
 * Password and client-secret hashes: argon2id (new hashes) and bcrypt (verifying existing ones).
 */
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';

/** argon2id with the RFC 9106 second recommended option (m=64 MiB, t=3, p=4). */
const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 } as const;

export function isSupportedHash(hash: string): boolean {
  return /^\$argon2id\$/.test(hash) || /^\$2[aby]\$\d\d\$/.test(hash);
}

export async function hashSecret(secret: string): Promise<string> {
  return argon2Hash(secret, ARGON2_OPTIONS);
}

/** True when `secret` matches `hash`; false for a wrong secret or a hash of an unknown kind. */
export async function verifySecret(hash: string, secret: string): Promise<boolean> {
  try {
    if (hash.startsWith('$argon2id$')) return await argon2Verify(hash, secret);
    if (/^\$2[aby]\$/.test(hash)) return await bcrypt.compare(secret, hash);
  } catch {
    return false;
  }
  return false;
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of one verification against a hash no secret matches, so an unknown user
 * answers in about the time of a wrong password (DESIGN §3). Pass a real hash of the store
 * (argon2id or bcrypt) to mirror its kind and cost parameters exactly: it is verified against a
 * fixed string and the result is discarded. Without one (or with a hash of an unknown kind) it
 * uses an argon2id hash with the parameters of {@link hashSecret}.
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
