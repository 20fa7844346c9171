/**
 * The host of a URL as a socket or a TLS check wants it: `URL.hostname` keeps an IPv6
 * literal's brackets (RFC 3986 §3.2.2: `[::1]`), while `net.connect`, `tls.connect`'s `host`,
 * `isIP` and the OpenTelemetry `server.address` attribute take the bare address (`::1`).
 */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}
