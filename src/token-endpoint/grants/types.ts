import type { ClientConfig } from '../../config/types.js';
import type { FormParams } from '../../http/read-form.js';

/** What a grant handler gets: the parsed form and the authenticated client. */
export interface GrantRequest {
  readonly params: FormParams;
  readonly client: ClientConfig;
  /** The client's IP (per server.trustProxy), for brute-force budgets. */
  readonly clientIp: string;
  /** The request's id (X-Request-Id), for audit events. */
  readonly requestId?: string;
}

/** RFC 6749 §5.1 successful response. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token?: string;
  /** Present when the granted scope differs from the requested one (RFC 6749 §5.1). */
  readonly scope?: string;
  /** Extension: seconds until the password expires (a directory's warning; directory-answers.ts). */
  readonly password_expires_in?: number;
  /** Extension: grace logins left on an expired password. */
  readonly password_grace_logins_remaining?: number;
  /** OIDC Core §3.1.3.3: on a password grant whose scope includes openid. */
  readonly id_token?: string;
}

/** What the handler learned, for the completion log line and metrics. */
export interface GrantOutcome {
  readonly response: TokenResponse;
  readonly subject: string;
}

/** One grant type: a registry of modules with one contract. */
export interface GrantHandler {
  readonly grantType: string;
  handle(request: GrantRequest): Promise<GrantOutcome>;
}
