import { isIP, isIPv4 } from 'node:net';

const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
/** How many spellings canonicalIp remembers (peer addresses repeat); when full it starts over. */
const CANONICAL_MEMO = 4096;
/** The longest spelling remembered: an IPv6 address with an IPv4 tail is 45 characters; zone ids are free-form. */
const MEMO_KEY_MAX = 64;
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
  if (out !== undefined && address.length <= MEMO_KEY_MAX) {
    if (canonical.size >= CANONICAL_MEMO) canonical.clear();
    canonical.set(address, out);
  }
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

/**
 * The client an IP address counts as, for the lockout's IP budget and the fair shares of public
 * routes (src/resource/fairness.ts): its canonical spelling, an IPv6 address by its /64 (one
 * subscriber's usual allocation, RFC 6177). What is no address is its own key.
 */
export function ipBucket(ip: string): string {
  const address = canonicalIp(ip);
  if (address === undefined || isIPv4(address)) return address ?? ip;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a canonical IPv6 address (compressed, hex groups only, no zone). */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::', 2) as [string, string | undefined];
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right];
}
