/**
 * The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
 *
 * Steps: read refresh_token → look it up (a rotated one revokes its family) → bound to this
 * client → scope may only narrow, and loses what today's configuration no longer grants the
 * user (src/oauth/scope-policy.ts) → re-check the user with its validator → rotate atomically.
 */
import type { Logger } from '../../observability/logger.js';
import { NO_AUDIT, type Audit } from '../../observability/audit.js';
import type { TokenStore } from '../../tokens/types.js';
import type { ValidatorChain } from '../../validators/chain.js';
import { InvalidGrantError } from '../../oauth/errors.js';
import { parseScope, refreshScope } from '../../oauth/scope.js';
import type { ScopePolicy } from '../../oauth/scope-policy.js';
import { accessToken, nowSeconds, refreshToken, tokenResponse } from '../issue.js';
import { required } from './password.js';
import type { GrantHandler, GrantOutcome, GrantRequest } from './types.js';

export interface RefreshGrantOptions {
  readonly store: TokenStore;
  readonly chainFor: (clientId: string) => ValidatorChain;
  readonly scopePolicy: ScopePolicy;
  readonly accessTokenTtl: number;
  readonly rotation: boolean;
  readonly logger: Logger;
  /** Receives `refresh`, `refresh_reuse` and `family_revoked` events (docs/operations.md, "Audit events"). */
  readonly audit?: Audit;
}

const BAD_REFRESH = 'the refresh token is invalid, expired or revoked';

export class RefreshTokenGrant implements GrantHandler {
  readonly grantType = 'refresh_token';

  constructor(private readonly options: RefreshGrantOptions) {}

  async handle({ params, client, clientIp, requestId }: GrantRequest): Promise<GrantOutcome> {
    const { store, logger, audit = NO_AUDIT } = this.options;
    const who = { client_id: client.id, client_ip: clientIp, ...(requestId ? { request_id: requestId } : {}) };
    const presented = required(params.get('refresh_token'), 'refresh_token');
    const requested = parseScope(params.get('scope'));

    const record = await store.getRefresh(presented);
    if (!record) {
      const reused = await store.revokeIfRotated(presented);
      if (reused) {
        logger.warn(
          { event: 'refresh_token_reuse', clientId: client.id, sub: reused.sub, ownerClientId: reused.clientId },
          'a rotated refresh token was presented again; its family is revoked',
        );
        audit.emit({ event: 'refresh_reuse', outcome: 'refused', ...who, sub: reused.sub, token_client_id: reused.clientId });
      }
      throw new InvalidGrantError(BAD_REFRESH);
    }
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if (record.clientId !== client.id) throw new InvalidGrantError(BAD_REFRESH);
    // The groups are those of the login: a refresh re-checks that the user exists, not their groups.
    const grantable = this.options.scopePolicy.grantable(client, record.validator, record.groups);
    const { scope, kept } = refreshScope(requested, record.scope, grantable);
    const status = await this.options.chainFor(client.id).recheck(record.validator, record.sub);
    if (status === 'gone') {
      await store.revokeFamily(record.familyId);
      audit.emit({ event: 'family_revoked', outcome: 'success', reason: 'subject_gone', ...who, sub: record.sub, validator: record.validator });
      logger.info({ event: 'subject_gone', clientId: client.id, sub: record.sub }, 'the user no longer exists or is disabled; family revoked');
      throw new InvalidGrantError(BAD_REFRESH);
    }

    const now = nowSeconds();
    const fields = { ...record, scope };
    const access = accessToken(fields, now, this.options.accessTokenTtl);
    const refresh = this.options.rotation ? refreshToken({ ...record, scope: kept }, now, record.familyExp) : undefined;
    const result = await store.rotate(presented, { access, ...(refresh ? { refresh } : {}) });
    if (result === 'reused') {
      logger.warn({ event: 'refresh_token_reuse', clientId: client.id, sub: record.sub }, 'a rotated refresh token was presented again; its family is revoked');
      audit.emit({ event: 'refresh_reuse', outcome: 'refused', ...who, sub: record.sub, token_client_id: record.clientId });
    }
    if (result !== 'rotated') throw new InvalidGrantError(BAD_REFRESH);
    audit.emit({ event: 'refresh', outcome: 'success', ...who, sub: record.sub, validator: record.validator });
    return { response: tokenResponse(access, refresh, requested), subject: record.sub };
  }
}
