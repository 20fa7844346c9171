import { describe, expect, it } from 'vitest';
import { binaryValue, guidString, sidString } from '../../src/validators/ad-binary.js';

/** alice's objectGUID and objectSid from a Samba 4.17 AD (ldapsearch base64), and samba-tool's string forms. */
const GUID = { base64: 'BWQjOLw6fUG7p7GKlG3B/w==', text: '38236405-3abc-417d-bba7-b18a946dc1ff' };
const SID = { base64: 'AQUAAAAAAAUVAAAApj+68yNsJMjNkyQjTwQAAA==', text: 'S-1-5-21-4089069478-3357830179-589599693-1103' };

describe('objectGUID and objectSid string forms', () => {
  it('writes a GUID in the mixed-endian form AD tools show', () => {
    expect(guidString(Buffer.from(GUID.base64, 'base64'))).toBe(GUID.text);
  });

  it('writes a SID as S-1-5-21-…', () => {
    expect(sidString(Buffer.from(SID.base64, 'base64'))).toBe(SID.text);
    expect(sidString(Buffer.from([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]))).toBe('S-1-5-18'); // Local System
  });

  it('reads the string forms back into the same bytes (the re-check searches by them)', () => {
    expect(binaryValue('objectGUID', GUID.text)?.toString('base64')).toBe(GUID.base64);
    expect(binaryValue('OBJECTGUID', GUID.text.toUpperCase())?.toString('base64')).toBe(GUID.base64);
    expect(binaryValue('objectSid', SID.text)?.toString('base64')).toBe(SID.base64);
  });

  it('refuses malformed values', () => {
    expect(guidString(Buffer.alloc(15))).toBeUndefined();
    expect(sidString(Buffer.from([2, 0, 0, 0, 0, 0, 0, 5]))).toBeUndefined();
    expect(sidString(Buffer.from([1, 2, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0]))).toBeUndefined();
    expect(binaryValue('objectGUID', 'alice')).toBeUndefined();
    expect(binaryValue('objectSid', 'S-1-5-4294967296')).toBeUndefined();
    expect(binaryValue('objectSid', 'S-2-5')).toBeUndefined();
    expect(binaryValue('cn', GUID.text)).toBeUndefined();
  });
});
