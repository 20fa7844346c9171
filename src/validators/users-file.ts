/**
 * The users file of the `file` validator (validators/file.ts): its YAML format, read and
 * checked. Problems are collected (all at once, one line each, like the config loader) and
 * never quote a hash or a line of the file: a password may have been pasted there.
 *
 * ```yaml
 * users:
 *   - username: joe
 *     passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$…"   # or bcrypt "$2b$10$…"
 *     groups: [editors]
 *     attributes: { email: joe@example.org }
 *     disabled: false
 * ```
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { FileValidatorConfig } from '../config/types.js';
import { ProblemsError } from '../problems-error.js';
import { mostExpensiveHash } from '../security/password-hash.js';
import { canonicalUsername } from '../security/canonical-username.js';
import type { Principal } from './types.js';

/**
 * Every problem of a users file (unreadable, not YAML, unknown keys, a plain `password`, hashes
 * of an unknown kind or placeholders), one line each; [] when it loads. Run by the
 * configuration check (src/config/validate.ts) before the gateway starts.
 */
export function usersFileProblems(path: string, caseSensitive: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return [readProblem(err)];
  }
  try {
    parseUsersFile(path, text, caseSensitive);
    return [];
  } catch (err) {
    if (err instanceof UsersFileError) return [...err.problems];
    throw err;
  }
}

/** Reads and parses the users file of `config`. @throws UsersFileError with every problem. */
export async function loadUsers(config: FileValidatorConfig): Promise<UsersTable> {
  let text: string;
  try {
    text = await readFile(config.path, 'utf8');
  } catch (err) {
    throw new UsersFileError(config.path, [readProblem(err)]);
  }
  return parseUsersFile(config.path, text, config.caseSensitive);
}

/** A read failure as one problem line (the file's content never quoted). */
export function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'cannot read the users file: no such file';
  if (code === 'EACCES') return 'cannot read the users file: permission denied';
  if (code === 'ENOTFILE' || code === 'EISDIR') return 'cannot read the users file: not a regular file';
  return `cannot read the users file: ${code ?? (err as Error).message}`;
}

/** A users file that cannot be read or is invalid; one line per problem, each naming the file. */
export class UsersFileError extends ProblemsError {
  constructor(
    readonly file: string,
    problems: readonly string[],
  ) {
    super(problems, problems.map((p) => `${file}: ${p}`).join('\n'));
  }
}

interface FileUser {
  readonly passwordHash: string;
  readonly disabled: boolean;
  readonly principal: Principal;
}

export interface UsersTable {
  /** Keyed by {@link canonicalUsername}. */
  readonly byName: ReadonlyMap<string, FileUser>;
  /**
   * The file's most expensive hash (kind and cost), burnt for unknown users: an unknown name
   * never answers faster than a wrong password of any user in the file.
   */
  readonly burnHash: string | undefined;
}

const USER_KEYS = ['username', 'passwordHash', 'groups', 'attributes', 'disabled'];
const ARGON2ID = /^\$argon2id\$v=\d+\$[^$\s]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the users file refuses names and groups with control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Parses the text of a users file.
 * @throws UsersFileError with every problem found.
 */
function parseUsersFile(file: string, text: string, caseSensitive: boolean): UsersTable {
  const problems: string[] = [];
  const root = parseYaml(text, problems);
  if (problems.length > 0) throw new UsersFileError(file, problems);
  if (!isRecord(root) || !Array.isArray(root['users'])) {
    throw new UsersFileError(file, ['users: must be a list of users (`users: [{username, passwordHash, …}]`)']);
  }
  for (const key of Object.keys(root)) {
    if (key !== 'users') problems.push(`${quoteKey(key)}: unknown key; the file holds only \`users\``);
  }
  const byName = new Map<string, FileUser>();
  const firstIndex = new Map<string, number>();
  root['users'].forEach((entry: unknown, i: number) => {
    const user = parseUser(entry, `users[${i}]`, problems);
    if (user === undefined) return;
    const key = canonicalUsername(user.principal.subject, caseSensitive);
    const earlier = firstIndex.get(key);
    if (earlier !== undefined) {
      const rule = caseSensitive ? 'after NFKC normalisation' : 'ignoring case and width (NFKC)';
      problems.push(`users[${i}].username: ${JSON.stringify(user.principal.subject)} is the same user as users[${earlier}] ${rule}`);
      return;
    }
    firstIndex.set(key, i);
    byName.set(key, user);
  });
  if (problems.length > 0) throw new UsersFileError(file, problems);
  return { byName, burnHash: mostExpensiveHash([...byName.values()].map((u) => u.passwordHash)) };
}

function parseYaml(text: string, problems: string[]): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    // The first line of a YAML error names the problem and its position; the lines after it
    // quote the file, so they are dropped.
    for (const err of doc.errors) problems.push(`invalid YAML: ${(err.message.split('\n')[0] ?? err.code).replace(/:$/, '')}`);
    return undefined;
  }
  try {
    return doc.toJS();
  } catch (err) {
    problems.push(`invalid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
    return undefined;
  }
}

function parseUser(entry: unknown, at: string, problems: string[]): FileUser | undefined {
  if (!isRecord(entry)) {
    problems.push(`${at}: must be a mapping with username and passwordHash`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(entry)) {
    if (USER_KEYS.includes(key)) continue;
    const hint = key === 'password' ? 'store a hash in passwordHash, never a plain password' : `expected ${USER_KEYS.join(', ')}`;
    problems.push(`${at}.${quoteKey(key)}: unknown key; ${hint}`);
  }
  const { username, passwordHash, groups = [], attributes = {}, disabled = false } = entry;
  if (typeof username !== 'string' || username.trim() === '') problems.push(`${at}.username: must be a non-empty string`);
  else if (CONTROL.test(username)) problems.push(`${at}.username: must not contain control characters`);
  if (passwordHash === undefined) problems.push(`${at}.passwordHash: is required`);
  else if (typeof passwordHash !== 'string' || !(ARGON2ID.test(passwordHash) || BCRYPT.test(passwordHash))) {
    problems.push(`${at}.passwordHash: must be an argon2id or bcrypt hash`);
  }
  if (!Array.isArray(groups)) problems.push(`${at}.groups: must be a list of group names`);
  else
    groups.forEach((g: unknown, j) => {
      if (typeof g !== 'string' || g === '') problems.push(`${at}.groups[${j}]: must be a non-empty string`);
    });
  if (!isRecord(attributes)) problems.push(`${at}.attributes: must be a mapping of names to strings`);
  else
    for (const [name, value] of Object.entries(attributes)) {
      if (typeof value !== 'string') problems.push(`${at}.attributes.${quoteKey(name)}: must be a string (quote it in YAML)`);
    }
  if (typeof disabled !== 'boolean') problems.push(`${at}.disabled: must be true or false`);
  if (problems.length > before) return undefined;
  return {
    passwordHash: passwordHash as string,
    disabled: disabled as boolean,
    principal: Object.freeze({
      subject: username as string,
      groups: Object.freeze([...(groups as string[])]),
      attributes: Object.freeze(Object.fromEntries(Object.entries(attributes as Record<string, string>))),
    }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key from the file, shortened and quoted when it is not a plain identifier. */
function quoteKey(key: string): string {
  const short = key.length > 40 ? `${key.slice(0, 40)}…` : key;
  return /^[A-Za-z_][\w-]*$/.test(short) ? short : JSON.stringify(short);
}
