/**
 * The validator contract run against the `file` validator, with a users file in a temp dir.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { createLogger } from '../../src/observability/logger.js';
import { hashSecret } from '../../src/security/password-hash.js';
import { FileValidator } from '../../src/validators/file.js';
import { validatorContract, type ContractUser } from './validator.contract.js';

const USERS: ContractUser[] = [
  { username: 'joe', password: '2Federate', subject: 'joe', groups: ['editors'] },
  { username: 'Gina', password: 'p&ss=w+rd%20ünï€😀', subject: 'Gina', groups: [] },
  { username: 'alice', password: 'alice-pw', subject: 'alice', groups: ['admins', 'editors'] },
];

validatorContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ropc-file-contract-'));
  const path = join(dir, 'users.yaml');
  // Both hash kinds: argon2id for joe and Gina, bcrypt for alice.
  const entries = await Promise.all(
    USERS.map(async (u, i) => ({
      username: u.username,
      passwordHash: i === 2 ? await bcrypt.hash(u.password, 10) : await hashSecret(u.password),
      groups: u.groups,
      attributes: { email: `${u.username.toLowerCase()}@example.org` },
    })),
  );
  let present = entries;
  await writeFile(path, stringify({ users: present }));
  const validator = await FileValidator.open({ name: 'local', type: 'file', path, caseSensitive: false }, createLogger('silent'), { debounceMs: 20 });

  return {
    validator,
    users: USERS,
    async removeUser(username) {
      present = present.filter((e) => e.username !== username);
      await writeFile(path, stringify({ users: present }));
      const deadline = Date.now() + 10_000;
      while ((await validator.recheck(username)) !== 'gone') {
        if (Date.now() > deadline) throw new Error(`the users file was not reloaded within 10 s after removing ${username}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
});
