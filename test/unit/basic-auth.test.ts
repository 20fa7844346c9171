/**
 * HTTP Basic decoded once for both paths (src/http/basic-auth.ts, RFC 7617 §2): what
 * decodeBasic refuses and why, and the bridge's raw split (client credentials are split and
 * form-decoded by basic-credentials.ts instead: basic-credentials.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { decodeBasic, splitUserPass } from '../../src/http/basic-auth.js';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

describe('decodeBasic', () => {
  it('decodes the user-pass whole, scheme name in any case, neither split nor form-decoded', () => {
    expect(decodeBasic(`Basic ${b64('a%3Ab:c+d')}`)).toEqual({ userPass: 'a%3Ab:c+d' });
    expect(decodeBasic(`bAsIc   ${b64('x:y')}  `)).toEqual({ userPass: 'x:y' });
  });

  it('says why a value is malformed: not Basic base64, or not UTF-8', () => {
    for (const value of ['Bearer abc', 'Basic', 'Basic a', 'Basic ab!c', `Basic ${b64('x:y')}===`])
      expect(decodeBasic(value), value).toEqual({ malformed: 'scheme' });
    expect(decodeBasic(`Basic ${b64(Buffer.from([0x61, 0x3a, 0xff]))}`)).toEqual({ malformed: 'utf8' });
  });
});

describe('splitUserPass', () => {
  it('splits at the first colon', () => {
    expect(splitUserPass('bob:a:b:c')).toEqual({ username: 'bob', password: 'a:b:c' });
  });

  it('refuses an empty part, a missing colon and control characters', () => {
    for (const userPass of [':pw', 'user:', 'nocolon', 'us\ter:pw', 'user:p\u007fw']) expect(splitUserPass(userPass), userPass).toBeNull();
  });
});
