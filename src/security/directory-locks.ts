/**
 * Accounts a directory reported locked (the LDAP password policy's accountLocked, Active
 * Directory's `data 775`), remembered for `lockout.directoryLockSeconds` so the gateway does
 * not call the directory for them again while it lasts (docs/security.md, "Directory
 * locks"): every further guess would be one more failed bind in the directory's own counters,
 * and a right password is refused there anyway.
 *
 * In memory, per replica: another replica calls the directory once itself. Bounded: at most
 * {@link MAX_ENTRIES} accounts, the oldest forgotten first (forgetting one costs one more bind).
 * Keyed by the lockout's digest of the username (src/security/lockout.ts) and the validator
 * chain, so a lock in one directory does not refuse the same name in another client's chain.
 */
const MAX_ENTRIES = 10_000;

export class DirectoryLocks {
  /** key -> time (ms) the memo ends; a Map keeps insertion order, oldest first. */
  readonly #until = new Map<string, number>();

  constructor(
    private readonly lockMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `key` is remembered as locked (an ended memo is forgotten on the way). */
  has(key: string): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#until.delete(key);
    return false;
  }

  /** Remembers `key` as locked for the configured time from now. */
  add(key: string): void {
    this.#until.delete(key);
    this.#until.set(key, this.now() + this.lockMs);
    while (this.#until.size > MAX_ENTRIES) this.#until.delete(this.#until.keys().next().value!);
  }

  /** How many accounts are remembered (ended memos included until looked at). */
  get size(): number {
    return this.#until.size;
  }
}
