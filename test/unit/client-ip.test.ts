/** The client IP of a request (src/http/context.ts, src/ip-address.ts): the peer, or the first X-Forwarded-For address with server.trustProxy, in one spelling. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientIp, forwardedAddress } from '../../src/http/context.js';
import { canonicalIp } from '../../src/ip-address.js';

const request = (forwarded?: string): IncomingMessage =>
  ({
    headersDistinct: forwarded === undefined ? {} : { 'x-forwarded-for': [forwarded] },
    socket: { remoteAddress: '::ffff:10.0.0.9' },
  }) as unknown as IncomingMessage;

describe('forwardedAddress', () => {
  it('answers the bare address of every spelling of one', () => {
    expect(forwardedAddress(' 192.0.2.1 ')).toBe('192.0.2.1');
    expect(forwardedAddress('192.0.2.1:5678')).toBe('192.0.2.1');
    expect(forwardedAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(forwardedAddress('[2001:db8::1]')).toBe('2001:db8::1');
    expect(forwardedAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
  });

  it('spells one address one way: IPv6 compressed and lower-case, without a zone; IPv4-mapped as IPv4', () => {
    for (const spelling of ['2001:db8::1', '2001:DB8::1', '2001:0db8::1', '2001:db8:0:0:0:0:0:1', '[2001:db8::1]:9', '2001:db8::1%eth0'])
      expect(forwardedAddress(spelling)).toBe('2001:db8::1');
    for (const zone of ['fe80::1%a', 'fe80::1%zz', '[fe80::1%1]:80']) expect(forwardedAddress(zone)).toBe('fe80::1');
    for (const mapped of [
      '::ffff:192.0.2.1',
      '::FFFF:192.0.2.1',
      '::ffff:c000:201',
      '0:0:0:0:0:ffff:192.0.2.1',
      '0:0:0:0:0:FFFF:c000:0201',
      '[::ffff:192.0.2.1]:1',
    ])
      expect(forwardedAddress(mapped)).toBe('192.0.2.1');
    expect(canonicalIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalIp('nope')).toBeUndefined();
  });

  it('answers nothing for what is no address', () => {
    for (const value of [
      '',
      'unknown',
      '_hidden',
      '192.0.2.256',
      '192.0.2.1:',
      '[2001:db8::1',
      '2001:db8::1]',
      '[x]:1',
      '192.0.2.1:123456',
      'a.b.c.d',
    ])
      expect(forwardedAddress(value)).toBeUndefined();
  });
});

describe('clientIp', () => {
  it('takes the first X-Forwarded-For element with trustProxy, the peer (canonical) without', () => {
    expect(clientIp(request('[2001:db8::1]:443, 10.1.1.1'), true)).toBe('2001:db8::1');
    expect(clientIp(request('192.0.2.1'), false)).toBe('10.0.0.9');
    expect(clientIp(request(), true)).toBe('10.0.0.9');
  });

  it('falls back to the peer when the first element is no address', () => {
    expect(clientIp(request('unknown, 192.0.2.1'), true)).toBe('10.0.0.9');
    expect(clientIp(request(''), true)).toBe('10.0.0.9');
  });
});
