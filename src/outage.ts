/**
 * A dependency outage: a backend (the token store, a directory behind a password validator)
 * is down, refused, or did not answer in time. A leaf module, so the token store and the
 * validators can throw it and src/oauth/error-response.ts can map it (503
 * `temporarily_unavailable`, never a failed login) without importing either of them.
 *
 * The message names the dependency and the reason, and is written to the log only; it never
 * holds a credential or request data.
 */
export abstract class OutageError extends Error {}
