/**
 * The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
 *
 * Steps: read refresh_token → look it up (a rotated one revokes its family) → bound to this
 * client → scope may only narrow, and loses what today's configuration no longer grants the
 * user (src/oauth/scope-policy.ts) → re-check the user with its validator → rotate atomically.
 * A rotated token presented again within `oauth.refreshReuseGraceSeconds` by its client gets
 * the same successor pair instead (docs/security.md "Refresh reuse grace").
 */
import type { Logger } from '../../observability/logger.js';
import { NO_AUDIT, type Audit } from '../../observability/audit.js';
import type { TokenStore } from '../../tokens/types.js';
import type { ClientConfig } from '../../config/types.js';
import type { ValidatorChain } from '../../validators/chain.js';
import { InvalidGrantError } from '../../oauth/errors.js';
import { parseScope, refreshScope } from '../../oauth/scope.js';
import type { ScopePolicy } from '../../oauth/scope-policy.js';
import { accessToken, nowSeconds, refreshToken } from '../issue.js';
import type { Clock } from '../../clock.js';
import { presentOpaque, type Presenter } from '../present.js';
import { required } from '../oauth-form.js';
import type { GrantHandler, GrantOutcome, GrantRequest } from './types.js';

/** Who asked, as every audit event of this grant names it. */
type AuditWho = { readonly client_id: string; readonly client_ip: string; readonly request_id?: string };

export interface RefreshGrantOptions {
  readonly store: TokenStore;
  readonly chainFor: (clientId: string) => ValidatorChain;
  readonly scopePolicy: ScopePolicy;
  readonly accessTokenTtl: number;
  readonly rotation: boolean;
  /** `oauth.refreshReuseGraceSeconds`; 0 = strict RFC 9700 §4.14.2 reuse detection. */
  readonly reuseGraceSeconds?: number;
  readonly logger: Logger;
  /** Receives `refresh`, `refresh_reuse` and `family_revoked` events (docs/operations.md, "Audit events"). */
  readonly audit?: Audit;
  /** The answer in the client's token format (present.ts); default opaque. No ID token on refresh (id-token.ts). */
  readonly present?: Presenter;
  /** The time tokens are stamped with (src/app.ts `clock`); default the system clock. */
  readonly clock?: Clock;
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
    if (!record) return this.settleRotated(presented, client, requested, who);
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if (record.clientId !== client.id) throw new InvalidGrantError(BAD_REFRESH);
    // The groups are those of the login: a refresh re-checks that the user exists, not their groups.
    const grantable = this.options.scopePolicy.grantable(client, record.validator, record.groups);
    const { scope, kept } = refreshScope(requested, record.scope, grantable);
    const status = await this.options.chainFor(client.id).recheck(record.validator, record.sub);
    if (status === 'gone') {
      await store.revokeFamily(record.familyId);
      audit.emit({
        event: 'family_revoked',
        outcome: 'success',
        reason: 'subject_gone',
        ...who,
        sub: record.sub,
        validator: record.validator,
      });
      logger.info(
        { event: 'subject_gone', clientId: client.id, sub: record.sub },
        'the user no longer exists or is disabled; family revoked',
      );
      throw new InvalidGrantError(BAD_REFRESH);
    }

    const now = nowSeconds(this.options.clock);
    const fields = { ...record, scope };
    const access = accessToken(fields, now, this.options.accessTokenTtl);
    const refresh = this.options.rotation ? refreshToken({ ...record, scope: kept }, now, record.familyExp) : undefined;
    const result = await store.rotate(presented, { access, ...(refresh ? { refresh } : {}) }, { graceSeconds: this.graceSeconds });
    // A concurrent refresh with the same token rotated it first, within the grace window.
    if (result === 'superseded') return this.settleRotated(presented, client, requested, who);
    if (result === 'reused') {
      logger.warn(
        { event: 'refresh_token_reuse', clientId: client.id, sub: record.sub },
        'a rotated refresh token was presented again; its family is revoked',
      );
      audit.emit({ event: 'refresh_reuse', outcome: 'refused', ...who, sub: record.sub, token_client_id: record.clientId });
    }
    if (result !== 'rotated') throw new InvalidGrantError(BAD_REFRESH);
    audit.emit({ event: 'refresh', outcome: 'success', ...who, sub: record.sub, validator: record.validator });
    return { response: await this.present(client, { access, refresh, requested }), subject: record.sub };
  }

  private get present(): Presenter {
    return this.options.present ?? presentOpaque;
  }

  private get graceSeconds(): number {
    return this.options.rotation ? (this.options.reuseGraceSeconds ?? 0) : 0;
  }

  /**
   * A presented refresh token that is not current: the successor of its rotation again when the
   * store allows a replay (grace window, same client), otherwise reuse (family revoked) or
   * unknown — invalid_grant either way.
   */
  private async settleRotated(
    presented: string,
    client: ClientConfig,
    requested: readonly string[] | undefined,
    who: AuditWho,
  ): Promise<GrantOutcome> {
    const { store, logger, audit = NO_AUDIT } = this.options;
    const outcome = await store.settleRotated(presented, client.id, this.graceSeconds);
    if (outcome?.kind === 'replay') {
      const { access, refresh } = outcome.successor;
      logger.info(
        { event: 'refresh_token_replay', clientId: client.id, sub: access.record.sub },
        'a just-rotated refresh token was presented again within the grace window; the same successor is returned',
      );
      audit.emit({
        event: 'refresh',
        outcome: 'success',
        reason: 'grace_replay',
        ...who,
        sub: access.record.sub,
        validator: access.record.validator,
      });
      return {
        response: await this.present(client, { access, refresh, requested, now: nowSeconds(this.options.clock) }),
        subject: access.record.sub,
      };
    }
    if (outcome?.kind === 'reused') {
      const reused = outcome.record;
      logger.warn(
        { event: 'refresh_token_reuse', clientId: client.id, sub: reused.sub, ownerClientId: reused.clientId },
        'a rotated refresh token was presented again; its family is revoked',
      );
      audit.emit({ event: 'refresh_reuse', outcome: 'refused', ...who, sub: reused.sub, token_client_id: reused.clientId });
    }
    throw new InvalidGrantError(BAD_REFRESH);
  }
}
