import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SrvRecord } from 'node:dns';
import { DomainControllers, orderSrv, srvUrl } from '../../src/validators/ad-discovery.js';
import { startDnsSrvServer, type DnsSrvServer } from '../support/dns-srv-server.js';

const srv = (name: string, priority: number, weight: number, port = 389): SrvRecord => ({ name, priority, weight, port });

describe('SRV ordering (RFC 2782)', () => {
  it('puts lower priorities first, whatever the weights', () => {
    const records = [srv('c', 20, 100), srv('a', 0, 0), srv('b', 10, 50)];
    for (const r of [0, 0.5, 0.999]) expect(orderSrv(records, () => r).map((x) => x.name)).toEqual(['a', 'b', 'c']);
  });

  it('within a priority, picks by weight: the running sum reaching a random number in [0, total]', () => {
    const records = [srv('light', 0, 10), srv('heavy', 0, 90)];
    // total 100: 0..10 picks light (running sum 10), 11..100 picks heavy.
    expect(orderSrv(records, () => 0).map((x) => x.name)).toEqual(['light', 'heavy']);
    expect(orderSrv(records, () => 10 / 101).map((x) => x.name)).toEqual(['light', 'heavy']);
    expect(orderSrv(records, () => 11 / 101).map((x) => x.name)).toEqual(['heavy', 'light']);
    expect(orderSrv(records, () => 0.999).map((x) => x.name)).toEqual(['heavy', 'light']);
  });

  it('gives weight-0 records a chance only at 0, and drops the "." target', () => {
    const records = [srv('zero', 0, 0), srv('some', 0, 5), srv('.', 0, 100)];
    expect(orderSrv(records, () => 0).map((x) => x.name)).toEqual(['zero', 'some']);
    expect(orderSrv(records, () => 0.5).map((x) => x.name)).toEqual(['some', 'zero']);
  });

  it('makes LDAPS URLs on 636 or LDAP URLs on the SRV port', () => {
    expect(srvUrl(srv('dc1.corp.example.com.', 0, 0, 389), 'ldaps')).toBe('ldaps://dc1.corp.example.com:636');
    expect(srvUrl(srv('dc1.corp.example.com', 0, 0, 3268), 'ldap')).toBe('ldap://dc1.corp.example.com:3268');
  });
});

describe('domain controller discovery over real DNS (a dgram SRV server)', () => {
  let dns: DnsSrvServer;
  beforeAll(async () => {
    dns = await startDnsSrvServer({
      '_ldap._tcp.corp.example.com': [
        { priority: 10, weight: 0, port: 389, target: 'dc2.corp.example.com' },
        { priority: 0, weight: 0, port: 389, target: 'dc1.corp.example.com' },
      ],
    });
  });
  afterAll(() => dns?.close());

  it('asks _ldap._tcp.<domain> and answers the targets in priority order, cached for a minute', async () => {
    const dcs = new DomainControllers('corp.example.com', 'ldaps', { dnsServers: [dns.address] });
    const now = Date.now();
    expect(await dcs.urls(now)).toEqual(['ldaps://dc1.corp.example.com:636', 'ldaps://dc2.corp.example.com:636']);
    expect(dns.questions).toEqual(['_ldap._tcp.corp.example.com']);
    expect(await dcs.urls(now + 1000)).toEqual(['ldaps://dc1.corp.example.com:636', 'ldaps://dc2.corp.example.com:636']);
    expect(dns.questions).toHaveLength(1);
  });

  it('answers [] for a domain without records (the configured urls are then used)', async () => {
    expect(await new DomainControllers('nowhere.example.com', 'ldap', { dnsServers: [dns.address] }).urls()).toEqual([]);
  });
});
