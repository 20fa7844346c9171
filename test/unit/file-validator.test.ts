import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import type { FileValidatorConfig, ValidatorConfig } from '../../src/config/types.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { burnVerification, hashCost, hashSecret, mostExpensiveHash, verifySecret } from '../../src/security/password-hash.js';
import { FileValidator } from '../../src/validators/file.js';
import { UsersFileError } from '../../src/validators/users-file.js';
import { createValidators } from '../../src/validators/registry.js';
import { sleep, waitFor } from '../support/wait-for.js';

// The real functions, observed: proves the unknown-user path spends a verification.
vi.mock('../../src/security/password-hash.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/security/password-hash.js')>();
  return { ...real, burnVerification: vi.fn(real.burnVerification), verifySecret: vi.fn(real.verifySecret) };
});

const DEV_USERS = resolve(import.meta.dirname, '../../config/dev/users.yaml');

let joeHash: string; // argon2id of 2Federate
let annHash: string; // bcrypt of ann-pw
let dir: string;
let path: string;
let lines: Record<string, unknown>[];
let logger: Logger;
const opened: FileValidator[] = [];

beforeAll(async () => {
  [joeHash, annHash] = await Promise.all([hashSecret('2Federate'), bcrypt.hash('ann-pw', 10)]);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ropc-file-validator-'));
  path = join(dir, 'users.yaml');
  lines = [];
  logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  vi.mocked(burnVerification).mockClear();
  vi.mocked(verifySecret).mockClear();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((v) => v.close()));
  await rm(dir, { recursive: true, force: true });
});

const config = (over: Partial<FileValidatorConfig> = {}): FileValidatorConfig => ({
  name: 'local',
  type: 'file',
  path,
  caseSensitive: false,
  subjectPrefix: '',
  groupScopes: {},
  ...over,
});

async function open(over: Partial<FileValidatorConfig> = {}): Promise<FileValidator> {
  const v = await FileValidator.open(config(over), logger, { debounceMs: 20 });
  opened.push(v);
  return v;
}

const joe = () => ({ username: 'joe', passwordHash: joeHash, groups: ['editors'], attributes: { email: 'joe@example.org' } });
const ann = () => ({ username: 'Ann', passwordHash: annHash, groups: ['admins'] });

async function writeUsers(users: unknown[], to = path): Promise<void> {
  await writeFile(to, stringify({ users }));
}

/** Polls `check` until it holds, for at most 10 s. */
const until = (check: () => Promise<boolean> | boolean, what: string): Promise<void> => waitFor(check, 10_000, what);

async function openError(text: string, over: Partial<FileValidatorConfig> = {}): Promise<UsersFileError> {
  await writeFile(path, text);
  const err = await FileValidator.open(config(over), logger).then(
    (v) => {
      opened.push(v);
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsersFileError);
  return err as UsersFileError;
}

const valid = async (v: FileValidator, username: string, password: string) => (await v.validate(username, password)).valid;

describe('FileValidator: users and passwords', () => {
  it('verifies both argon2id and bcrypt hashes (the dev users file)', async () => {
    const v = await FileValidator.open(
      { name: 'dev', type: 'file', path: DEV_USERS, caseSensitive: false, subjectPrefix: '', groupScopes: {} },
      logger,
    );
    opened.push(v);
    const outcome = await v.validate('joe', '2Federate');
    expect(outcome).toEqual({
      valid: true,
      principal: { subject: 'joe', groups: ['editors'], attributes: { email: 'joe@example.org', name: 'Joe Example' } },
    });
    const alice = await v.validate('alice', 'alice-pw');
    expect(alice.valid && [...alice.principal.groups].sort()).toEqual(['admins', 'editors']);
    expect(await valid(v, 'alice', '2Federate')).toBe(false);
  });

  it('returns the subject as written in the file, whatever the login spelling', async () => {
    await writeUsers([joe(), ann()]);
    const v = await open();
    for (const spelling of ['ann', 'ANN', 'ａｎｎ']) {
      const outcome = await v.validate(spelling, 'ann-pw');
      expect(outcome.valid && outcome.principal).toEqual({ subject: 'Ann', groups: ['admins'], attributes: {} });
    }
  });

  it('hands out a principal that cannot change the loaded users', async () => {
    await writeUsers([joe()]);
    const v = await open();
    const first = await v.validate('joe', '2Federate');
    if (!first.valid) throw new Error('expected valid');
    expect(() => (first.principal.groups as string[]).push('admins')).toThrow(TypeError);
    expect(() => Object.assign(first.principal.attributes, { email: 'x' })).toThrow(TypeError);
  });

  it('applies the case rule of caseSensitive (NFKC still folds the width)', async () => {
    await writeUsers([joe(), ann()]);
    const v = await open({ caseSensitive: true });
    expect(await valid(v, 'joe', '2Federate')).toBe(true);
    expect(await valid(v, 'ｊｏｅ', '2Federate')).toBe(true);
    expect(await valid(v, 'JOE', '2Federate')).toBe(false);
    expect(await valid(v, 'ann', 'ann-pw')).toBe(false);
    await expect(v.recheck('ann')).resolves.toBe('gone');
    await expect(v.recheck('Ann')).resolves.toBe('active');
  });

  it('rejects a disabled user even with the right password, after spending a verification', async () => {
    await writeUsers([{ ...joe(), disabled: true }, ann()]);
    const v = await open();
    expect(await valid(v, 'joe', '2Federate')).toBe(false);
    expect(burnVerification).toHaveBeenCalledWith(joeHash);
    expect(verifySecret).not.toHaveBeenCalled();
    await expect(v.recheck('joe')).resolves.toBe('gone');
    await expect(v.recheck('Ann')).resolves.toBe('active');
  });

  it('rejects an empty password without verifying it, but spends the time of one', async () => {
    await writeUsers([joe()]);
    const v = await open();
    expect(await valid(v, 'joe', '')).toBe(false);
    expect(burnVerification).toHaveBeenCalledTimes(1);
    expect(verifySecret).not.toHaveBeenCalled();
  });

  it('accepts an empty users list (every login is invalid)', async () => {
    await writeFile(path, 'users: []\n');
    const v = await open();
    expect(await valid(v, 'joe', '2Federate')).toBe(false);
    await expect(v.health()).resolves.toMatchObject({ status: 'up', detail: '0 users' });
  });
});

describe('FileValidator: an unknown user costs a verification of the most expensive kind', () => {
  it('burns the most expensive hash of the file: an unknown name really runs bcrypt at cost 12 when a user has one', async () => {
    const strong = await bcrypt.hash('bea-pw', 12);
    await writeUsers([joe(), ann(), { username: 'bea', passwordHash: strong }]);
    const v = await open();
    expect(v.burnHash).toBe(strong);
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect(await valid(v, 'nobody', '2Federate')).toBe(false);
      expect(burnVerification).toHaveBeenCalledTimes(1);
      expect(burnVerification).toHaveBeenCalledWith(strong);
      // The verification that ran was bcrypt against that very hash (cost 12), not a cheaper kind.
      expect(compare).toHaveBeenCalledTimes(1);
      expect(compare.mock.calls[0]?.[1]).toBe(strong);
    } finally {
      compare.mockRestore();
    }
    // A wrong password of a known user verifies its own hash instead of burning.
    expect(await valid(v, 'joe', 'wrong')).toBe(false);
    expect(burnVerification).toHaveBeenCalledTimes(1);
    expect(verifySecret).toHaveBeenCalledWith(joeHash, 'wrong');
  });

  it('burns argon2id when it costs more than the bcrypt hashes, even if they are more common', async () => {
    const cheap = await bcrypt.hash('x', 4);
    await writeUsers([{ ...ann(), passwordHash: cheap }, { username: 'bea', passwordHash: cheap }, joe()]);
    const v = await open();
    expect(await valid(v, 'nobody', 'x')).toBe(false);
    expect(burnVerification).toHaveBeenCalledWith(joeHash);
  });

  it('ranks hash costs by kind and parameters', () => {
    expect(hashCost(annHash)).toBeLessThan(hashCost(`$2b$12$${'a'.repeat(53)}`)!);
    expect(hashCost(joeHash)).toBeGreaterThan(hashCost(`$2b$08$${'a'.repeat(53)}`)!);
    expect(hashCost('$argon2id$v=19$m=65536,t=6,p=4$c2FsdA$aGFzaA')).toBeGreaterThan(hashCost(joeHash)!);
    expect(hashCost('plain')).toBeUndefined();
    expect(mostExpensiveHash([undefined, annHash, joeHash, 'plain'])).toBe(annHash);
    expect(mostExpensiveHash([])).toBeUndefined();
  });

  it('awaits the burn before answering', async () => {
    await writeUsers([joe()]);
    const v = await open();
    vi.mocked(burnVerification).mockImplementationOnce(() => new Promise((r) => setTimeout(r, 200)));
    const start = performance.now();
    expect(await valid(v, 'nobody', 'x')).toBe(false);
    expect(performance.now() - start).toBeGreaterThanOrEqual(150);
  });

  it('takes about as long as a wrong password (generous median comparison)', async () => {
    await writeUsers([joe()]);
    const v = await open();
    const time = async (username: string): Promise<number> => {
      const start = performance.now();
      await v.validate(username, 'wrong password');
      return performance.now() - start;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 5; i++) {
      unknown.push(await time(`nobody-${i}`));
      wrong.push(await time('joe'));
    }
    expect(Math.min(...unknown)).toBeGreaterThan(3);
    expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.3);
  });
});

describe('FileValidator: startup errors name the file and each problem', () => {
  it('names a missing file', async () => {
    const err = await FileValidator.open(config({ path: join(dir, 'nope.yaml') }), logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsersFileError);
    expect((err as Error).message).toBe(`${join(dir, 'nope.yaml')}: cannot read the users file: no such file`);
  });

  it('names the user index and the field, without quoting the bad value', async () => {
    const err = await openError(stringify({ users: [joe(), ann(), { username: 'eve', passwordHash: 'hunter2' }] }));
    expect(err.message).toBe(`${path}: users[2].passwordHash: must be an argon2id or bcrypt hash`);
    expect(err.problems).toEqual(['users[2].passwordHash: must be an argon2id or bcrypt hash']);
  });

  it('reports every problem at once, one line each', async () => {
    const users = [
      { passwordHash: joeHash },
      { username: 'bob', password: 'Sw0rdf1sh', passwordHash: `${joeHash.slice(0, 40)}`, groups: 'editors' },
      { username: 'carl', passwordHash: annHash, groups: ['ok', ''], attributes: { age: 42 }, disabled: 'no' },
      'dave',
    ];
    const err = await openError(stringify({ users, extra: 1 }));
    expect(err.problems).toEqual([
      'extra: unknown key; the file holds only `users`',
      'users[0].username: must be a non-empty string',
      'users[1].password: unknown key; store a hash in passwordHash, never a plain password',
      'users[1].passwordHash: must be an argon2id or bcrypt hash',
      'users[1].groups: must be a list of group names',
      'users[2].groups[1]: must be a non-empty string',
      'users[2].attributes.age: must be a string (quote it in YAML)',
      'users[2].disabled: must be true or false',
      'users[3]: must be a mapping with username and passwordHash',
    ]);
    expect(err.message.split('\n')).toHaveLength(9);
    expect(err.message.split('\n').every((l) => l.startsWith(`${path}: `))).toBe(true);
    expect(err.message).not.toContain('Sw0rdf1sh');
    expect(err.message).not.toContain(joeHash.slice(0, 40));
  });

  it('refuses usernames that are one user after canonicalisation', async () => {
    const err = await openError(stringify({ users: [{ ...joe(), username: 'gina' }, joe(), { ...ann(), username: 'ＧＩＮＡ' }] }));
    expect(err.problems).toEqual(['users[2].username: "ＧＩＮＡ" is the same user as users[0] ignoring case and width (NFKC)']);
    // Case-sensitive: GINA differs from gina, but the width still folds.
    await writeUsers([
      { ...joe(), username: 'gina' },
      { ...ann(), username: 'GINA' },
    ]);
    await expect(open({ caseSensitive: true })).resolves.toBeInstanceOf(FileValidator);
    const again = await openError(
      stringify({
        users: [
          { ...joe(), username: 'GINA' },
          { ...ann(), username: 'ＧＩＮＡ' },
        ],
      }),
      { caseSensitive: true },
    );
    expect(again.problems).toEqual(['users[1].username: "ＧＩＮＡ" is the same user as users[0] after NFKC normalisation']);
  });

  it('reports YAML syntax errors by position without quoting the file', async () => {
    const err = await openError(`users:\n  - username: joe\n    passwordHash: "${joeHash}"\n   groups: [\n`);
    expect(err.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid YAML: .*line \\d+, column \\d+`));
    expect(err.message).not.toContain(joeHash);
    expect(err.message).not.toContain('passwordHash');
  });

  it('refuses a file without a users list', async () => {
    for (const text of ['', 'users: joe\n', '- joe\n', 'people: []\n']) {
      const err = await openError(text);
      expect(err.problems[0]).toMatch(/^users: must be a list of users/);
    }
  });

  it('refuses control characters in usernames and a truncated hash', async () => {
    const err = await openError(
      stringify({
        users: [
          { username: 'jo\u0000e', passwordHash: joeHash },
          { username: 'x', passwordHash: annHash.slice(0, -1) },
        ],
      }),
    );
    expect(err.problems).toEqual([
      'users[0].username: must not contain control characters',
      'users[1].passwordHash: must be an argon2id or bcrypt hash',
    ]);
  });
});

describe('FileValidator: reload on change', () => {
  it('picks up a user added and a user removed by rewriting the file', async () => {
    await writeUsers([joe()]);
    const v = await open();
    expect(await valid(v, 'ann', 'ann-pw')).toBe(false);
    await writeUsers([joe(), ann()]);
    await until(() => valid(v, 'ann', 'ann-pw'), 'ann is added');
    await writeUsers([ann()]);
    await until(async () => (await v.recheck('joe')) === 'gone', 'joe is removed');
    expect(await valid(v, 'joe', '2Federate')).toBe(false);
    expect(lines.some((l) => l['msg'] === 'users file reloaded' && l['file'] === path && l['users'] === 1)).toBe(true);
  });

  it('picks up an atomic replace (a new file renamed over the old one)', async () => {
    await writeUsers([joe()]);
    const v = await open();
    await writeUsers([joe(), ann()], join(dir, '.users.yaml.tmp'));
    await rename(join(dir, '.users.yaml.tmp'), path);
    await until(() => valid(v, 'ann', 'ann-pw'), 'the replaced file is loaded');
  });

  it('keeps the previous users when a reload fails, warns naming the file, and recovers', async () => {
    await writeUsers([joe()]);
    const v = await open();
    await writeUsers([joe(), { username: 'ann', passwordHash: 'ann-pw' }]);
    await until(() => lines.some((l) => l['level'] === 'warn'), 'a warning is logged');
    const warning = lines.find((l) => l['level'] === 'warn')!;
    expect(warning).toMatchObject({
      file: path,
      validator: 'local',
      problems: ['users[1].passwordHash: must be an argon2id or bcrypt hash'],
    });
    expect(await valid(v, 'joe', '2Federate')).toBe(true);
    await expect(v.health()).resolves.toEqual({
      name: 'local',
      type: 'file',
      status: 'up',
      detail: '1 users; last reload failed, serving the previous users',
    });

    await writeUsers([joe(), ann()]);
    await until(() => valid(v, 'ann', 'ann-pw'), 'the fixed file is loaded');
    await expect(v.health()).resolves.toMatchObject({ detail: '2 users' });
    // Nothing secret in any log line.
    const log = JSON.stringify(lines);
    for (const secret of [joeHash, annHash, 'ann-pw', '2Federate', '$argon2id$', '$2b$']) expect(log).not.toContain(secret);
  });

  it('keeps the previous users when the file is deleted, warns once, and recovers', async () => {
    await writeUsers([joe()]);
    const v = await FileValidator.open(config(), logger, { debounceMs: 10, pollIntervalMs: 20 });
    opened.push(v);
    await rm(path);
    const warnings = () => lines.filter((l) => l['level'] === 'warn');
    await until(() => warnings().length > 0, 'a warning is logged');
    expect(warnings()[0]).toMatchObject({ file: path, problems: ['cannot read the users file: no such file'] });
    expect(await valid(v, 'joe', '2Federate')).toBe(true);
    await sleep(200); // ten polls
    expect(warnings()).toHaveLength(1);
    await writeUsers([ann()]);
    await until(() => valid(v, 'ann', 'ann-pw'), 'the restored file is loaded');
  });

  it('stops watching on close', async () => {
    await writeUsers([joe()]);
    const v = await FileValidator.open(config(), logger, { debounceMs: 10, pollIntervalMs: 20 });
    await v.close();
    await v.close(); // twice is fine
    const before = lines.length;
    await writeUsers([joe(), ann()]);
    await sleep(300);
    expect(lines.slice(before)).toEqual([]);
    expect(await valid(v, 'ann', 'ann-pw')).toBe(false);
  });

  it('falls back to the stat poll (a change the watcher reported is not needed)', async () => {
    await writeUsers([joe()]);
    // A debounce longer than the test: only the poll can see the change.
    const v = await FileValidator.open(config(), logger, { debounceMs: 60_000, pollIntervalMs: 50 });
    opened.push(v);
    await writeUsers([joe(), ann()]);
    await until(() => valid(v, 'ann', 'ann-pw'), 'the poll reloads the file');
  });
});

describe('createValidators', () => {
  it('builds file validators by name', async () => {
    await writeUsers([joe()]);
    const built = await createValidators([config()], logger);
    opened.push(...([...built.values()] as FileValidator[]));
    expect([...built.keys()]).toEqual(['local']);
    expect(await valid(built.get('local') as FileValidator, 'joe', '2Federate')).toBe(true);
  });

  it('prefixes each problem line with the validator entry', async () => {
    await writeFile(path, stringify({ users: [{ username: 'a' }, { username: 'b', passwordHash: 'x' }] }));
    const err = await createValidators([config()], logger).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe(
      [
        `validators[0] (local): ${path}: users[0].passwordHash: is required`,
        `validators[0] (local): ${path}: users[1].passwordHash: must be an argon2id or bcrypt hash`,
      ].join('\n'),
    );
  });

  it('names the entry of a validator that cannot be built', async () => {
    await writeUsers([joe()]);
    const ldap = { name: 'directory', type: 'ldap' } as unknown as ValidatorConfig;
    await expect(createValidators([config(), ldap], logger)).rejects.toThrow(
      'validators[1] (directory): urls: name at least one ldap:// or ldaps:// URL',
    );
    const http = { name: 'legacy', type: 'http' } as unknown as ValidatorConfig;
    await expect(createValidators([http], logger)).rejects.toThrow('validators[0] (legacy): url: is required');
  });

  it('refuses a name used twice', async () => {
    await writeUsers([joe()]);
    await expect(createValidators([config(), config()], logger)).rejects.toThrow(
      'validators[1] (local): the name is used by an earlier validator',
    );
  });
});

afterAll(() => {
  vi.restoreAllMocks();
});
