/**
 * The hop-by-hop header fields: meaningful for one connection only, never forwarded by an
 * intermediary, neither to the upstream nor back to the client (RFC 9110 §7.6.1). Every
 * header a message names in its `Connection` field is hop-by-hop too; removing those is up to
 * each user of this list.
 *
 * RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and
 * Upgrade; `Trailer` is here as well (hop-by-hop in RFC 2616 §13.5.1, and a trailer section is
 * never forwarded by the gateway). A leaf module: the configuration checks import it too.
 */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/**
 * The framing fields among them, which the resource path keeps on the request it hands to the
 * forwarder (the forwarder reads them to know whether a body follows, then frames the
 * upstream request itself), and which a client's `Connection` header can never remove.
 */
export const FRAMING: readonly string[] = ['transfer-encoding'];
