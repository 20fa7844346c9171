/**
 * The password change endpoint (docs/validators.md, "Changing a password"), opt-in with
 * `passwordChange.enabled`, at `passwordChange.path` (default `/as/password.oauth2`):
 *
 *   1. method, form   POST, application/x-www-form-urlencoded, bounded (as the token endpoint)
 *   2. client         authenticated like at the token endpoint (client-auth.ts); it must be
 *                     allowed the password grant (unauthorized_client otherwise)
 *   3. fields         `username`, `password` (the old one), `new_password`
 *   4. change         through the lockout (src/security/password-change.ts) to the validator
 *                     chain's `changePassword`
 *   5. respond        200 `{"password_changed":true}`; a refused old password is the password
 *                     grant's `invalid_grant`, byte for byte (a state only when proven and
 *                     revealed, directory-answers.ts); a new password the policy refused is
 *                     400 `invalid_request` with a stable description and `reason` (the rule).
 *
 * The policy's answer is given whatever `reveal` says: it is only reachable with the right old
 * password.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context.js';
import { sendJson } from '../http/send.js';
import { InvalidRequestError, UnauthorizedClientError } from '../oauth/errors.js';
import type { Audit } from '../observability/audit.js';
import type { PasswordChange } from '../security/password-change.js';
import { authenticateClient } from './client-auth.js';
import type { ClientRegistry } from './clients.js';
import { PasswordPolicyError, REVEAL_NOTHING, refusalError, type RevealPolicy } from './directory-answers.js';
import { readOAuthForm, required } from './oauth-form.js';

export interface PasswordChangeEndpointOptions {
  readonly clients: ClientRegistry;
  readonly change: PasswordChange;
  readonly bodyLimit: number;
  readonly reveal?: RevealPolicy;
  readonly audit?: Audit;
}

export function passwordChangeEndpoint(options: PasswordChangeEndpointOptions) {
  const reveal = options.reveal ?? REVEAL_NOTHING;
  return async function handlePasswordChange(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const params = await readOAuthForm(req, options.bodyLimit);
    const client = await authenticateClient(
      req.headers,
      params,
      options.clients,
      ctx.clientIp,
      options.audit && { audit: options.audit, requestId: ctx.id },
    );
    ctx.clientId = client.id;
    if (!client.grantTypes.includes('password')) throw new UnauthorizedClientError('the client may not use the password grant');
    const username = required(params.get('username'), 'username');
    const oldPassword = required(params.get('password'), 'password');
    const newPassword = required(params.get('new_password'), 'new_password');
    if (newPassword === '') throw new InvalidRequestError('new_password is empty');
    const outcome = await options.change(client.id, username, oldPassword, newPassword, ctx.clientIp, ctx.id);
    if (outcome.changed) {
      sendJson(res, 200, { password_changed: true });
      return;
    }
    if ('policy' in outcome) throw new PasswordPolicyError(outcome.policy);
    const { refused } = outcome;
    throw refusalError(
      {
        valid: false,
        reason: refused.reason,
        ...(outcome.validator ? { validator: outcome.validator } : {}),
        ...(refused.state ? { state: refused.state } : {}),
        ...(refused.passwordVerified ? { passwordVerified: true } : {}),
      },
      reveal,
    );
  };
}
