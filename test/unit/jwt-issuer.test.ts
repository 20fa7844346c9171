import { SignJWT, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { claimsIssuer } from '../../src/tokens/jwt-access.js';

// The incumbent source (src/resource/token-source.ts) keeps a JWT naming our issuer for our own
// verification and sends any other JWT to the incumbent: claimsIssuer reads `iss` unverified.
describe('claimsIssuer', () => {
  const ours = 'https://gw.example.com';

  it('is true for a JWT whose iss is ours, signed or forged alike (our verifier judges it)', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const signed = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(ours).sign(privateKey);
    expect(claimsIssuer(signed, ours)).toBe(true);
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ours })).toString('base64url')}.x`;
    expect(claimsIssuer(forged, ours)).toBe(true);
  });

  it('is false for another issuer, no issuer, a malformed payload and an opaque token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const theirs = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://pf.example.com').sign(privateKey);
    expect(claimsIssuer(theirs, ours)).toBe(false);
    const none = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    expect(claimsIssuer(none, ours)).toBe(false);
    expect(claimsIssuer('aaa.bbb.ccc', ours)).toBe(false);
    expect(claimsIssuer('A'.repeat(65), ours)).toBe(false);
  });
});
