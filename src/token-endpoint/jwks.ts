/**
 * The JWKS (RFC 7517 §5) of JWT access tokens and ID tokens, at `oauth.paths.jwks` on the
 * public port (RFC 8414 `jwks_uri`): every key of the set, current, next and retired
 * (src/tokens/key-set.ts). GET and HEAD only.
 *
 * Unlike the OAuth answers it may be cached: `max-age` is {@link JWKS_MAX_AGE_SECONDS}, so a
 * next key must be published at least that long (plus the verifiers' own cache time) before it
 * signs — the rotation procedure of docs/token-formats.md waits for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context.js';
import { MethodNotAllowedError } from '../oauth/errors.js';

export const JWKS_MAX_AGE_SECONDS = 300;

export function jwksEndpoint(jwks: object) {
  const payload = JSON.stringify(jwks);
  return async function handleJwks(req: IncomingMessage, res: ServerResponse, _ctx: RequestContext): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError('use GET', 'GET, HEAD');
    res.writeHead(200, {
      'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
      'content-type': 'application/jwk-set+json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(req.method === 'HEAD' ? undefined : payload);
  };
}
