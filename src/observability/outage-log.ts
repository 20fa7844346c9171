/**
 * One log line when a backend (Redis, a directory) answers again after an outage: errors are
 * logged while they happen, and without this line the log just goes quiet when they stop
 * (docs/operations.md, "Logs").
 */
import type { Logger } from './logger.js';

export class OutageLog {
  #downSince: number | undefined;

  /** `what` names the backend in the message, e.g. "redis" or "validator ldap-main". */
  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    private readonly fields: Record<string, unknown> = {},
  ) {}

  /** The backend failed (an error event, a lost connection, an unavailable answer); true when this begins an outage. */
  down(): boolean {
    if (this.#downSince !== undefined) return false;
    this.#downSince = Date.now();
    return true;
  }

  /** The backend answered; logs once when this ends an outage. */
  up(): void {
    if (this.#downSince === undefined) return;
    const downSeconds = Math.round((Date.now() - this.#downSince) / 1000);
    this.#downSince = undefined;
    // At warn, the level of the outage's own lines, so a log filtered to warnings shows its end too.
    this.logger.warn({ ...this.fields, downSeconds }, `${this.what} is reachable again`);
  }
}
