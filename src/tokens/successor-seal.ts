/**
 * Sealing the successor of a rotation for the reuse grace window (docs/security.md "Refresh
 * reuse grace"). A store must be able to hand the same successor pair to a second, concurrent
 * refresh with the old token — but must not keep usable tokens in clear. So the successor is
 * encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from the PRESENTED refresh token:
 * the store keeps only that token's SHA-256, which does not yield the key, so a dump of the
 * store (or of its backups) cannot recover the successor; only a holder of the old token can,
 * and only until the grace entry expires.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Successor } from './types.js';

const INFO = 'ropc-gateway refresh reuse grace v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyFor(presented: string, familyId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', presented, familyId, INFO, 32));
}

/** The successor, encrypted for the holder of `presented`; base64url (no `|`, no JSON quoting). */
export function sealSuccessor(presented: string, familyId: string, successor: Successor): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(presented, familyId), iv);
  cipher.setAAD(Buffer.from(familyId));
  const body = Buffer.concat([cipher.update(JSON.stringify(successor), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The successor sealed for `presented`, or null when the seal does not open with it. */
export function openSuccessor(presented: string, familyId: string, sealed: string): Successor | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyFor(presented, familyId), raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(familyId));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    const successor = JSON.parse(text) as Successor;
    return typeof successor?.access?.token === 'string' ? successor : null;
  } catch {
    return null;
  }
}
