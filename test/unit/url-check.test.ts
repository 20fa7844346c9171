/**
 * The one reading of a configured URL (src/config/url-check.ts): each kind of part a key may
 * refuse, including an empty `?` or `#` that WHATWG URL drops from `search` and `hash`.
 */
import { describe, expect, it } from 'vitest';
import { isUrl, readUrl } from '../../src/config/url-check.js';

describe('readUrl', () => {
  it('reads a plain URL as clean', () => {
    const r = readUrl('https://idp.example.org:8443/', ['http:', 'https:']);
    expect(r.url?.host).toBe('idp.example.org:8443');
    expect({ ...r, url: undefined }).toEqual({
      url: undefined,
      wrongProtocol: false,
      credentials: false,
      query: false,
      fragment: false,
      path: false,
      noHost: false,
    });
  });

  it('names each part that is there', () => {
    expect(readUrl('ldap://u:p@dir/ou=x?cn#f', ['ldap:'])).toMatchObject({
      wrongProtocol: false,
      credentials: true,
      query: true,
      fragment: true,
      path: true,
    });
    expect(readUrl('http://host/?', ['http:'])).toMatchObject({ query: true, fragment: false });
    expect(readUrl('http://host/#', ['http:'])).toMatchObject({ query: false, fragment: true });
    expect(readUrl('ftp://host', ['http:']).wrongProtocol).toBe(true);
  });

  it('reads a value that is not a URL as one with a wrong protocol and no URL', () => {
    expect(readUrl('not a url', ['http:'])).toMatchObject({ url: undefined, wrongProtocol: true });
    expect(isUrl('not a url', ['http:'])).toBe(false);
    expect(isUrl('rediss://cache:6380', ['redis:', 'rediss:'])).toBe(true);
  });
});
