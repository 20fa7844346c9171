/**
 * The client credentials an `Authorization: Basic` user-pass may stand for
 * (docs/security.md, "Client credentials in a Basic header").
 *
 * RFC 6749 §2.3.1 has the client form-urlencode its id and secret before base64 (so `+` is a
 * space and a colon in the id is `%3A`). Many libraries send them raw instead (RFC 7617 only),
 * and a secret such as `ab+cd/ef==` then means something else when form-decoded. The gateway
 * therefore reads the header in up to three ways and tries each, in this order:
 *
 *   1. form-decoded, split at the first colon (RFC 6749 §2.3.1);
 *   2. raw, split at the first colon (RFC 7617 §2: a user-id holds no colon);
 *   3. raw, split after a configured client id that itself contains a colon and starts the
 *      value (`my:client:secret` with a client `my:client`), so raw senders of such ids work.
 *
 * Readings that come out the same are kept once. Pure functions; the registry verifies.
 */
import { formDecode } from '../http/read-form.js';

export interface ClientCredentials {
  readonly id: string;
  readonly secret: string;
}

/** Reading 1, or undefined when the value is not valid form-urlencoded UTF-8 (a raw `%`). */
export function formDecodedReading(userPass: string): ClientCredentials | undefined {
  const colon = userPass.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return { id: formDecode(userPass.slice(0, colon)), secret: formDecode(userPass.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** Readings 2 and 3: the raw value split at its first colon, then after each known id with a colon. */
export function rawReadings(userPass: string, idsWithColon: readonly string[]): ClientCredentials[] {
  const colon = userPass.indexOf(':');
  if (colon === -1) return [];
  const readings = [{ id: userPass.slice(0, colon), secret: userPass.slice(colon + 1) }];
  for (const id of idsWithColon) {
    if (userPass.startsWith(`${id}:`)) readings.push({ id, secret: userPass.slice(id.length + 1) });
  }
  return readings;
}

/** Every reading of a Basic user-pass, most standard first, without duplicates. */
export function basicReadings(userPass: string, idsWithColon: readonly string[]): ClientCredentials[] {
  const all = [formDecodedReading(userPass), ...rawReadings(userPass, idsWithColon)];
  const out: ClientCredentials[] = [];
  for (const r of all) {
    if (r && !out.some((o) => o.id === r.id && o.secret === r.secret)) out.push(r);
  }
  return out;
}
