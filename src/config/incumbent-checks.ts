/**
 * Cross-field checks of `incumbent.introspection` (src/resource/incumbent-introspection.ts,
 * docs/migrating-from-pingfederate.md): one line per problem, like every other check.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from './types.js';
import { readUrl } from './url-check.js';

const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]+$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function checkIncumbent(config: GatewayConfig, mode: 'dev' | 'production', problems: string[], warnings: string[]): void {
  const c = config.incumbent.introspection;
  const where = 'incumbent.introspection';
  for (const name of Object.keys(c.claims.attributes)) {
    if (!ATTRIBUTE_NAME.test(name))
      problems.push(`${where}.claims.attributes: "${name}" is not an attribute name (letters, digits and ._-)`);
  }
  if (!c.claims.subject) problems.push(`${where}.claims.subject: must name a claim`);
  if (!c.enabled) return;
  if (!c.url) problems.push(`${where}.url: is required when ${where}.enabled`);
  if (!c.clientId)
    problems.push(`${where}.clientId: is required when ${where}.enabled (RFC 7662 §2.1: the endpoint requires client authentication)`);
  if (c.url) {
    const reading = readUrl(c.url, ['http:', 'https:']);
    const url = reading.url ?? new URL(c.url); // the http-url format has refused what is not a URL
    if (reading.credentials) problems.push(`${where}.url: must not hold credentials; set clientId and clientSecretFile`);
    if (reading.fragment) problems.push(`${where}.url: must not have a #fragment`);
    const own = new URL(config.oauth.paths.introspection, config.oauth.issuer).href;
    if (url.href === own) problems.push(`${where}.url: is this gateway's own introspection endpoint; name the incumbent's`);
    if (mode === 'production' && url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
      warnings.push(`${where}.url: ${c.url} is not https://: the client secret and the tokens would cross the network in clear`);
    }
  }
  if (c.caFile) {
    try {
      readFileSync(c.caFile);
    } catch (err) {
      problems.push(`${where}.caFile: cannot read ${c.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
}
