import { isIP } from 'node:net';

const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
/** How many spellings canonicalIp remembers (peer addresses repeat; beyond it, computed anew). */
const CANONICAL_MEMO = 4096;
const canonical = new Map<string, string>();

/**
 * The one spelling of an IP address, so one client is one key for the lockout's IP budget
 * (src/security/lockout.ts) and the fair shares (src/resource/fairness.ts): IPv4 dotted as
 * given (`net.isIP` takes no leading zeros); IPv6 without its zone id, lower-case and
 * compressed (RFC 5952 §4, as the WHATWG URL parser writes a host), and an IPv4-mapped one
 * (`::ffff:0:0/96`, RFC 4291 §2.5.5.2, in any spelling) as its IPv4 address. Undefined when
 * `address` is no IP address.
 */
export function canonicalIp(address: string): string | undefined {
  const known = canonical.get(address);
  if (known !== undefined) return known;
  let out: string | undefined;
  const kind = isIP(address);
  if (kind === 4) out = address;
  else if (kind === 6) {
    const host = ipv6Host(address.split('%', 1)[0] as string);
    const mapped = host === undefined ? null : MAPPED.exec(host);
    out = mapped ? ipv4Of(Number.parseInt(mapped[1] as string, 16), Number.parseInt(mapped[2] as string, 16)) : host;
  }
  if (out !== undefined && canonical.size < CANONICAL_MEMO) canonical.set(address, out);
  return out;
}

/** An IPv6 address as the URL parser serialises a host of it; undefined if it refuses it. */
function ipv6Host(address: string): string | undefined {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function ipv4Of(high: number, low: number): string {
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
