/** Per-request facts collected along the data path for the completion log line and metrics. */
export interface RequestContext {
  readonly id: string;
  readonly clientIp: string;
  readonly start: bigint;
  /** Which handler took the request: token, revocation, introspection, metadata, decision, resource, websocket. */
  kind: string;
  /** Resource path: the label of the route rule that matched. */
  route?: string;
  clientId?: string;
  subject?: string;
  grantType?: string;
  /** A short machine-readable reason for a non-2xx answer (error code). */
  error?: string;
  /** Why a request was refused before any credential was read (e.g. a non-canonical path); never holds request data. */
  reason?: string;
}
