/**
 * The validator contract run against every validator that can pass it: the `file` validator
 * (a users file in a temp dir) and the `ldap` validator (a real slapd). The `http` validator
 * cannot re-check subjects, so it has its own tests (test/integration/http-validator.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { createLogger } from '../../src/observability/logger.js';
import { hashSecret } from '../../src/security/password-hash.js';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { FileValidator } from '../../src/validators/file.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import { GROUPS, PEOPLE, USERS as DIR } from '../fixtures/ldap/directory.js';
import { ldapValidatorConfig, startSlapd } from '../support/start-slapd.js';
import { validatorContract, type ContractUser } from './validator.contract.js';
import { waitFor } from '../support/wait-for.js';

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
  const validator = await FileValidator.open(
    { name: 'local', type: 'file', path, caseSensitive: false, subjectPrefix: '', groupScopes: {} },
    createLogger('silent'),
    { debounceMs: 20 },
  );

  return {
    validator,
    users: USERS,
    async removeUser(username) {
      present = present.filter((e) => e.username !== username);
      await writeFile(path, stringify({ users: present }));
      await waitFor(
        async () => (await validator.recheck(username)) === 'gone',
        10_000,
        `the users file to be reloaded after removing ${username}`,
      );
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// ---------------------------------------------------------------------------------------------
// The `ldap` validator against a real slapd (test/support/start-slapd.ts), in its three shapes.
// Each run has a slapd of its own: the last contract test deletes a user.

const LDAP_USERS: ContractUser[] = [DIR.alice, DIR.gina, DIR.joe].map((u) => ({
  username: u.uid,
  password: u.password,
  subject: u.uid,
  groups: u.groups,
}));

function ldapContract(name: string, overrides: Partial<LdapValidatorConfig>): void {
  validatorContract(name, async () => {
    const slapd = await startSlapd();
    const validator = await LdapValidator.open(ldapValidatorConfig(slapd, overrides), createLogger('silent'));
    return {
      validator,
      users: LDAP_USERS,
      async removeUser(username) {
        const user = Object.values(DIR).find((u) => u.uid === username);
        if (!user) throw new Error(`no fixture user ${username}`);
        await slapd.deleteEntry(user.dn);
      },
      cleanup: () => slapd.stop(),
    };
  });
}

ldapContract('ldap, search-then-bind, groups from memberOf', {});
ldapContract('ldap, search-then-bind, groups from a group search', {
  groups: { memberOfAttribute: '', searchBase: GROUPS, searchFilter: '(member={dn})', nameAttribute: 'cn' },
});
ldapContract('ldap, direct bind (userDnTemplate), groups from a group search as the user', {
  userDnTemplate: `uid={username},${PEOPLE}`,
  userSearchBase: '',
  groups: { memberOfAttribute: '', searchBase: GROUPS, searchFilter: '(member={dn})', nameAttribute: 'cn' },
});
