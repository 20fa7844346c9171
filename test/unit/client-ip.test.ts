/** The client IP of a request (src/http/context.ts): the peer, or the first X-Forwarded-For address with server.trustProxy. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientIp, forwardedAddress } from '../../src/http/context.js';

const request = (forwarded?: string): IncomingMessage =>
  ({
    headersDistinct: forwarded === undefined ? {} : { 'x-forwarded-for': [forwarded] },
    socket: { remoteAddress: '10.0.0.9' },
  }) as unknown as IncomingMessage;

describe('forwardedAddress', () => {
  it('answers the bare address of every spelling of one', () => {
    expect(forwardedAddress(' 192.0.2.1 ')).toBe('192.0.2.1');
    expect(forwardedAddress('192.0.2.1:5678')).toBe('192.0.2.1');
    expect(forwardedAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(forwardedAddress('[2001:db8::1]')).toBe('2001:db8::1');
    expect(forwardedAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(forwardedAddress('::ffff:192.0.2.1')).toBe('::ffff:192.0.2.1');
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
  it('takes the first X-Forwarded-For element with trustProxy, the peer without', () => {
    expect(clientIp(request('[2001:db8::1]:443, 10.1.1.1'), true)).toBe('2001:db8::1');
    expect(clientIp(request('192.0.2.1'), false)).toBe('10.0.0.9');
    expect(clientIp(request(), true)).toBe('10.0.0.9');
  });

  it('falls back to the peer when the first element is no address', () => {
    expect(clientIp(request('unknown, 192.0.2.1'), true)).toBe('10.0.0.9');
    expect(clientIp(request(''), true)).toBe('10.0.0.9');
  });
});
