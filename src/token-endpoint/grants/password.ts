/**
 * The Resource Owner Password Credentials grant (RFC 6749 §4.3).
 *
 * Steps: read username/password/scope → scope within the client's ceiling (before any
 * validator is asked) → validator chain → the scopes this user may have (groupScopes,
 * src/oauth/scope-policy.ts) → new token family → store, sent with the lockout's settlement
 * in one write (src/security/password-gate.ts, `onProven`). Every way the credentials can fail
 * answers the same `invalid_grant` (docs/security.md), except a directory state after a
 * proven password from a validator that reveals it (../directory-answers.ts).
 */
import type { ClientConfig } from '../../config/types.js';
import type { NewFamily, TokenStore } from '../../tokens/types.js';
import type { PasswordLogin, ValidLogin } from '../../security/login.js';
import { newFamilyId } from '../../tokens/token-value.js';
import {
  BAD_CREDENTIALS,
  REVEAL_NOTHING,
  refusalError,
  warningAttributes,
  warningFields,
  type RevealPolicy,
} from '../directory-answers.js';
import { checkScopeRequest, grantScope, parseScope } from '../../oauth/scope.js';
import type { ScopePolicy } from '../../oauth/scope-policy.js';
import { accessToken, nowSeconds, refreshToken } from '../issue.js';
import type { Clock } from '../../clock.js';
import { presentOpaque, type Presenter } from '../present.js';
import type { GrantHandler, GrantOutcome, GrantRequest } from './types.js';
import { required } from '../oauth-form.js';

export interface PasswordGrantOptions {
  readonly store: TokenStore;
  readonly login: PasswordLogin;
  readonly scopePolicy: ScopePolicy;
  readonly accessTokenTtl: number;
  readonly refreshTokenTtl: number;
  /** Which validators' directory states and warnings the client may see (`validators[].reveal`). */
  readonly reveal?: RevealPolicy;
  /** The answer in the client's token format, with an ID token for openid (present.ts); default opaque. */
  readonly present?: Presenter;
  /** The time tokens are stamped with (src/app.ts `clock`); default the system clock. */
  readonly clock?: Clock;
}

export { BAD_CREDENTIALS };

/** What a valid login is issued: its token family, and the tokens to present. */
interface Issued {
  readonly family: NewFamily;
  readonly access: NewFamily['access'];
  readonly refresh: NewFamily['refresh'];
  readonly now: number;
}

export class PasswordGrant implements GrantHandler {
  readonly grantType = 'password';

  constructor(private readonly options: PasswordGrantOptions) {}

  async handle({ params, client, clientIp, requestId }: GrantRequest): Promise<GrantOutcome> {
    const username = required(params.get('username'), 'username');
    const password = required(params.get('password'), 'password');
    const requested = parseScope(params.get('scope'));
    checkScopeRequest(requested, client);
    const reveal = this.options.reveal ?? REVEAL_NOTHING;
    let issued: Issued | undefined;
    const outcome = await this.options.login(client.id, username, password, clientIp, {
      via: 'password_grant',
      ...(requestId ? { requestId } : {}),
      // The family is created as the lockout settles: one write to Redis for both.
      onValid: (valid) => {
        issued = this.#issue(valid, client, requested, reveal);
        return this.options.store.createFamily(issued.family);
      },
    });
    if (!outcome.valid) throw refusalError(outcome, reveal);
    // The login calls onValid for every valid outcome before it resolves (security/login.ts).
    if (issued === undefined) throw new Error('password login resolved valid without issuing its tokens');
    const { access, refresh, now } = issued;
    const present = this.options.present ?? presentOpaque;
    return {
      response: { ...(await present(client, { access, refresh, requested, authTime: now })), ...warningFields(outcome, reveal) },
      subject: outcome.principal.subject,
    };
  }

  /** The scope, the tokens and the family of a valid login. */
  #issue(outcome: ValidLogin, client: ClientConfig, requested: readonly string[] | undefined, reveal: RevealPolicy): Issued {
    const { principal } = outcome;
    const grantable = this.options.scopePolicy.grantable(client, outcome.validator, principal.groups);
    const scope = grantScope(requested, client.defaultScopes, grantable);
    const now = nowSeconds(this.options.clock);
    const familyId = newFamilyId();
    const familyExp = now + this.options.refreshTokenTtl;
    const fields = {
      sub: principal.subject,
      clientId: client.id,
      scope,
      groups: [...principal.groups],
      attributes: { ...principal.attributes, ...warningAttributes(outcome.warnings, outcome.validator, reveal, now) },
      validator: outcome.validator,
      familyId,
    };
    const access = accessToken(fields, now, this.options.accessTokenTtl);
    const refresh = client.grantTypes.includes('refresh_token') ? refreshToken(fields, now, familyExp) : undefined;
    const family = { familyId, sub: principal.subject, clientId: client.id, exp: familyExp, access, ...(refresh ? { refresh } : {}) };
    return { family, access, refresh, now };
  }
}
