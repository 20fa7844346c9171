/**
 * Active Directory domain controller discovery (docs/active-directory.md, "Finding the domain
 * controllers"): the `_ldap._tcp.<domain>` SRV records every AD domain publishes, ordered as
 * RFC 2782 says (lowest priority first; within one priority, a weighted random order), become
 * LDAP URLs tried before the configured `urls`, with the connector's usual failover. Looked up
 * again after a minute; while DNS fails the last answer (or only `urls`) is used.
 */
import { Resolver } from 'node:dns/promises';
import type { SrvRecord } from 'node:dns';

const REFRESH_MS = 60_000;

/** Orders SRV records per RFC 2782 (`random` in [0, 1), a parameter for tests). */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  // RFC 2782: a target of "." means the service is decidedly not available.
  const usable = records.filter((r) => r.name !== '' && r.name !== '.');
  const priorities = [...new Set(usable.map((r) => r.priority))].sort((a, b) => a - b);
  const ordered: SrvRecord[] = [];
  for (const priority of priorities) {
    // Zero-weight records first, so they get a small chance, as the RFC's algorithm does.
    const left = usable.filter((r) => r.priority === priority).sort((a, b) => a.weight - b.weight);
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const pick = Math.floor(random() * (total + 1));
      let running = 0;
      let index = left.findIndex((r) => {
        running += r.weight;
        return running >= pick;
      });
      if (index < 0) index = left.length - 1;
      ordered.push(...left.splice(index, 1));
    }
  }
  return ordered;
}

/** The URL of one SRV target: LDAPS on 636, or plain LDAP on the record's port. */
export function srvUrl(record: SrvRecord, scheme: 'ldaps' | 'ldap'): string {
  const host = record.name.replace(/\.$/, '');
  return scheme === 'ldaps' ? `ldaps://${host}:636` : `ldap://${host}:${record.port}`;
}

export class DomainControllers {
  readonly #resolver: Pick<Resolver, 'resolveSrv'>;
  #urls: readonly string[] = [];
  #until = 0;
  #lookup: Promise<readonly string[]> | undefined;

  constructor(
    readonly domain: string,
    readonly scheme: 'ldaps' | 'ldap',
    options: { dnsServers?: readonly string[] } = {},
  ) {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    if (options.dnsServers) resolver.setServers([...options.dnsServers]);
    this.#resolver = resolver;
  }

  /** The discovered URLs in RFC 2782 order (cached a minute); [] when DNS has none. Never rejects. */
  urls(now = Date.now()): Promise<readonly string[]> {
    if (now < this.#until) return Promise.resolve(this.#urls);
    this.#lookup ??= this.#resolver
      .resolveSrv(`_ldap._tcp.${this.domain}`)
      .then((records) => {
        this.#urls = orderSrv(records).map((r) => srvUrl(r, this.scheme));
        return this.#urls;
      })
      .catch(() => this.#urls)
      .finally(() => {
        this.#until = Date.now() + REFRESH_MS;
        this.#lookup = undefined;
      });
    return this.#lookup;
  }
}
