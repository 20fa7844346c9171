import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STRIPPED_PREFIXES } from '../../src/resource/identity-headers.js';

// Envoy lists for removal (x-envoy-auth-headers-to-remove) only the headers its check request
// carried: docs/routing.md's ext_authz allowed_headers must let every prefixed name of the
// strip list through, or a spoofed one would reach the app unlisted.
describe('docs/routing.md Envoy example', () => {
  it('lets every prefix of the strip list into the check request', () => {
    const doc = readFileSync(new URL('../../docs/routing.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('allowed_headers:'), doc.indexOf('authorization_response:'));
    const allowed = [...section.matchAll(/\{ prefix: ([a-z0-9-]+)/g)].map((m) => m[1]);
    // x-envoy-* are Envoy's own: the gateway never lists them (src/resource/decision.ts).
    for (const prefix of STRIPPED_PREFIXES.filter((p) => p !== 'x-envoy-')) expect(allowed, prefix).toContain(prefix);
  });
});
