/**
 * The `file` password credential validator (docs/validators.md): users, argon2id/bcrypt hashes, groups
 * and attributes from a YAML file, re-read when the file changes. The embedded default of dev
 * mode (`config/dev/users.yaml`). The file's format and its checks: users-file.ts.
 *
 * Reload: the file's DIRECTORY is watched (so an editor's or Kubernetes' atomic replace — a new
 * file renamed over the old, or a ConfigMap's `..data` symlink swap — is seen), events are
 * debounced, and the file is re-read only when its stat signature (inode, size, mtime, ctime)
 * changed (the one file watcher, config/watch-file.ts). A slow stat poll backs up filesystems
 * without change events. A reload that fails keeps the previous users and logs a warning
 * naming the file (never hashes or file content).
 */
import type { FileValidatorConfig } from '../config/types.js';
import { filesSignature, watchFiles, type FileChange, type FileWatch } from '../config/watch-file.js';
import type { Logger } from '../observability/logger.js';
import { burnVerification, verifySecret } from '../security/password-hash.js';
import { canonicalUsername } from '../security/canonical-username.js';
import {
  INVALID_PASSWORD,
  UNKNOWN_USER,
  type PasswordValidator,
  type RecheckOutcome,
  type ValidationOutcome,
  type ValidatorHealth,
} from './types.js';
import { loadUsers, readProblem, UsersFileError, type UsersTable } from './users-file.js';

/** Reload tuning; the defaults suit production, tests shorten them. */
export interface FileValidatorOptions {
  /** Quiet time after the last change event before the file is checked (default 100 ms). */
  readonly debounceMs?: number;
  /** Stat poll for filesystems without change events; 0 turns it off (default 5000 ms). */
  readonly pollIntervalMs?: number;
}

/** Validates passwords against a YAML users file; see the module comment for the format. */
export class FileValidator implements PasswordValidator {
  readonly type = 'file';
  readonly name: string;
  readonly #config: FileValidatorConfig;
  readonly #log: Logger;
  #table: UsersTable;
  #lastReloadProblem: string | undefined;
  readonly #watch: FileWatch;
  #closed = false;

  private constructor(config: FileValidatorConfig, logger: Logger, table: UsersTable, signature: string, options: FileValidatorOptions) {
    this.name = config.name;
    this.#config = config;
    this.#log = logger.child({ validator: config.name });
    this.#table = table;
    // Compared at once with the signature read before the load: a change since is reloaded.
    this.#watch = watchFiles([config.path], (change) => this.#reload(change), {
      debounceMs: options.debounceMs ?? 100,
      pollMs: options.pollIntervalMs ?? 5000,
      signature,
      onWatchError: (_dir, err) =>
        this.#log.warn({ file: config.path, err: err.message }, 'users file watch failed; relying on the stat poll'),
    });
  }

  /**
   * Loads the users file and starts watching it.
   * @throws UsersFileError naming the file and every problem (one line each) when the file
   *   cannot be read or is not a valid users file.
   */
  static async open(config: FileValidatorConfig, logger: Logger, options: FileValidatorOptions = {}): Promise<FileValidator> {
    const { signature, missing } = await filesSignature([config.path]);
    if (missing) throw new UsersFileError(config.path, [readProblem(missing)]);
    const table = await loadUsers(config);
    const validator = new FileValidator(config, logger, table, signature, options);
    validator.#log.info({ file: config.path, users: table.byName.size }, 'users file loaded');
    return validator;
  }

  /**
   * Unknown, disabled and empty-password logins still spend one hash verification, so every
   * failure takes about the time of a wrong password; an unknown user burns the file's most
   * expensive hash (docs/security.md). A name not in the file is `unknown-user`; a disabled
   * user or a wrong password is `invalid-password`.
   */
  async validate(username: string, password: string): Promise<ValidationOutcome> {
    const table = this.#table;
    const user = table.byName.get(canonicalUsername(username, this.#config.caseSensitive));
    if (user === undefined || user.disabled || password === '') {
      await burnVerification(user?.passwordHash ?? table.burnHash);
      return user === undefined ? UNKNOWN_USER : INVALID_PASSWORD;
    }
    return (await verifySecret(user.passwordHash, password)) ? { valid: true, principal: user.principal } : INVALID_PASSWORD;
  }

  /** What refusing an unknown user costs: one verification of the file's dummy hash. */
  async imitateRefusal(): Promise<void> {
    await burnVerification(this.#table.burnHash);
  }

  /** The hash an unknown user's dummy verification uses: the file's most expensive (login.ts burns it for a locked user too). */
  get burnHash(): string | undefined {
    return this.#table.burnHash;
  }

  /** `active` while the subject is in the file and not disabled, `gone` otherwise. */
  async recheck(subject: string): Promise<RecheckOutcome> {
    const user = this.#table.byName.get(canonicalUsername(subject, this.#config.caseSensitive));
    return user !== undefined && !user.disabled ? 'active' : 'gone';
  }

  /** Always `up` once opened (a failed reload keeps serving the previous users; see `detail`). */
  async health(): Promise<ValidatorHealth> {
    const users = `${this.#table.byName.size} users`;
    const detail = this.#lastReloadProblem === undefined ? users : `${users}; last reload failed, serving the previous users`;
    return { name: this.name, type: this.type, status: 'up', detail };
  }

  /** Stops watching the file; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#watch.close();
  }

  /** A new signature (watch-file.ts). Never rejects: every failure keeps the previous users and is logged. */
  async #reload(change: FileChange): Promise<void> {
    if (change.missing) {
      this.#reloadFailed([readProblem(change.missing)]);
      return;
    }
    try {
      const table = await loadUsers(this.#config);
      if (this.#closed) return;
      this.#table = table;
      this.#lastReloadProblem = undefined;
      this.#log.info({ file: this.#config.path, users: table.byName.size }, 'users file reloaded');
    } catch (err) {
      this.#reloadFailed(err instanceof UsersFileError ? err.problems : [readProblem(err)]);
    }
  }

  #reloadFailed(problems: readonly string[]): void {
    this.#lastReloadProblem = problems.join('; ');
    this.#log.warn({ file: this.#config.path, problems }, 'users file not reloaded; keeping the previous users');
  }
}
