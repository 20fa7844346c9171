/**
 * Audit events: one JSON line per security-relevant fact (a login, a lockout, a refresh, a
 * revocation, …), written apart from the request log so a SIEM can take them as they are
 * (docs/operations.md, "Audit events").
 *
 * The schema is closed: an event has only the fields of {@link AuditFields}, each a category,
 * an identifier or a digest, so nothing free-form (a password, a secret, a token, an
 * Authorization value, an error message) can reach the audit destination. A failed login names
 * its user only by `username_key` (the lockout's counter digest, src/security/lockout.ts): a
 * password typed into the username field must never be written.
 *
 * Versioning: `v` is 1. A field may be added within a version; renaming or removing a field,
 * or changing its type or the meaning of a value, makes a new `v`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { DirectoryState, PasswordPolicyFailure } from '../validators/types.js';

/** The schema version written in every event's `v`. */
export const AUDIT_SCHEMA_VERSION = 1;

export type AuditEventName =
  | 'login'
  | 'lockout'
  | 'unlock'
  | 'refresh'
  | 'refresh_reuse'
  | 'family_revoked'
  | 'revocation'
  | 'introspection'
  | 'client_auth'
  | 'config_reload'
  | 'password_change';

export type AuditOutcome = 'success' | 'failure' | 'refused' | 'unavailable';

/** Reason categories; each event documents which it uses (docs/operations.md). */
export type AuditReason =
  | 'invalid_password'
  | 'unknown_user'
  | 'locked'
  | 'ip_blocked'
  | 'user_busy'
  | 'validator_unavailable'
  | 'store_unavailable'
  | 'failures'
  | 'client_auth_failures'
  | 'subject_gone'
  | 'foreign_token'
  | 'invalid_credentials'
  | 'missing_credentials'
  | 'malformed_credentials'
  | 'invalid_config'
  | 'build_failed'
  | 'grace_replay'
  | 'directory_locked'
  | 'directory_state'
  | 'password_policy';

/** Every field an event may carry besides `kind`, `v` and `time` (see the table in docs/operations.md). */
export interface AuditFields {
  readonly event: AuditEventName;
  readonly outcome: AuditOutcome;
  readonly reason?: AuditReason;
  readonly request_id?: string;
  readonly client_id?: string;
  readonly client_ip?: string;
  readonly sub?: string;
  readonly username_key?: string;
  readonly validator?: string;
  /** login, password_change: the account state the directory reported (src/validators/types.ts DirectoryState). */
  readonly state?: DirectoryState;
  /** login, password_change: whether the directory proved the password correct before refusing. */
  readonly password_verified?: boolean;
  /** password_change: the policy rule that refused the new password (PasswordPolicyFailure). */
  readonly policy?: PasswordPolicyFailure;
  /** How a login came: the password grant or the Basic bridge of the resource path. */
  readonly via?: 'password_grant' | 'basic_bridge';
  /** lockout: what was locked. */
  readonly scope?: 'user' | 'ip';
  readonly lock_seconds?: number;
  /** The client a token was issued to, when another client presented it. */
  readonly token_client_id?: string;
  readonly token_type?: 'access_token' | 'refresh_token';
  /** revocation: what was revoked. */
  readonly revoked?: 'family' | 'access_token' | 'none';
  /** introspection: the answer's `active`. */
  readonly active?: boolean;
  /** unlock: whether the user was locked. */
  readonly was_locked?: boolean;
  /** unlock: who ran it. */
  readonly actor?: 'cli';
}

/** One event as written. */
export interface AuditEvent extends AuditFields {
  readonly kind: 'audit';
  readonly v: typeof AUDIT_SCHEMA_VERSION;
  /** ISO 8601 UTC, milliseconds. */
  readonly time: string;
}

export interface Audit {
  emit(fields: AuditFields): void;
  /** Writes nothing more and closes the file (a no-op for stdout and off). */
  close(): void;
}

export interface AuditSettings {
  readonly destination: 'stdout' | 'file' | 'off';
  /** The JSON-lines file for destination `file`, appended to. */
  readonly file: string;
}

/** An audit that writes nothing (tests, tools). */
export const NO_AUDIT: Audit = Object.freeze({ emit: () => undefined, close: () => undefined });

/**
 * The audit of the process. `file` is opened once (append, created 0600 if missing) and
 * every event is one write(2) of a whole line, so events survive a crash and lines of
 * several processes do not interleave. `stdout` is where the request log goes too; the
 * events stand apart by `kind: "audit"`.
 * @param stdout where destination stdout writes: `ropc-gateway start` passes the log's batched
 *   destination (logger.ts), so events keep their order among the log lines and share its
 *   writes; the test harness passes its log capture.
 * @throws when the file cannot be opened (the gateway does not start without its audit).
 */
export function createAudit(settings: AuditSettings, stdout: { write(line: string): unknown } = process.stdout): Audit {
  if (settings.destination === 'off') return NO_AUDIT;
  let write: (line: string) => void;
  let close = (): void => undefined;
  if (settings.destination === 'file') {
    let fd: number | undefined = openSync(settings.file, 'a', 0o600);
    write = (line) => {
      if (fd !== undefined) writeSync(fd, line);
    };
    close = () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    };
  } else {
    write = (line) => void stdout.write(line);
  }
  return {
    emit(fields) {
      write(`${auditLine(fields)}\n`);
    },
    close,
  };
}

/** The same audit, each event also counted in `ropc_audit_events_total{event, outcome}` (also with destination off). */
export function countedAudit(audit: Audit, metrics: { recordAudit(event: AuditEventName, outcome: AuditOutcome): void }): Audit {
  return {
    emit(fields) {
      metrics.recordAudit(fields.event, fields.outcome);
      audit.emit(fields);
    },
    close: () => audit.close(),
  };
}

/** The JSON of one event: the fixed fields first, then the event's own, none undefined. */
export function auditLine(fields: AuditFields, now: Date = new Date()): string {
  const event: AuditEvent = { kind: 'audit', v: AUDIT_SCHEMA_VERSION, time: now.toISOString(), ...fields };
  return JSON.stringify(event);
}
