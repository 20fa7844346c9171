import { hash, randomFillSync } from 'node:crypto';

/**
 * Opaque token values (docs/security.md).
 *
 * A token is the family id (16 random bytes, 22 base64url characters) followed by a secret of
 * 32 random bytes (43 characters): 65 characters from a CSPRNG. The family id lets the store
 * keep all keys of one family under one Redis Cluster hash tag; the secret alone carries 256
 * bits. Stores keep only {@link hashToken} of a token, never the token itself.
 */
const FAMILY_CHARS = 22;
const SECRET_CHARS = 43;
export const TOKEN_LENGTH = FAMILY_CHARS + SECRET_CHARS;
const SHAPE = /^[A-Za-z0-9_-]+$/;

/**
 * CSPRNG bytes drawn from a pool filled POOL_BYTES at a time (one OpenSSL call per ~80
 * tokens instead of one per token, as node:crypto's randomUUID does); each byte is handed out
 * once.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** `bytes` random bytes (at most POOL_BYTES) as base64url. */
export function randomBase64url(bytes: number): string {
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const value = pool.toString('base64url', used, used + bytes);
  used += bytes;
  return value;
}

export function newFamilyId(): string {
  return randomBase64url(16);
}

export function newToken(familyId: string): string {
  return familyId + randomBase64url(32);
}

export interface ParsedToken {
  readonly familyId: string;
  /** base64url SHA-256 of the whole token: the only form a store keeps. */
  readonly hash: string;
}

/** Splits a presented token, or returns null when it cannot be one of ours (no store lookup then). */
export function parseToken(token: string): ParsedToken | null {
  if (token.length !== TOKEN_LENGTH || !SHAPE.test(token)) return null;
  return { familyId: token.slice(0, FAMILY_CHARS), hash: hashToken(token) };
}

export function hashToken(token: string): string {
  // The one-shot digest: no Hash object per token (this runs on every bearer request).
  return hash('sha256', token, 'base64url');
}
