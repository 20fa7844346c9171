/**
 * The `ldap` validator against a real slapd, beyond the shared contract: directory data
 * (non-ASCII and DN-special uids, two matching entries, disabled entries), groups and group
 * scopes, the service account, failover, outages and recovery, the connection pools, and the
 * cost of an unknown user.
 */
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import { ValidatorUnavailableError, type ValidationOutcome } from '../../src/validators/types.js';
import { GROUPS, OPS_MEMBER, PEOPLE, TWIN, USERS } from '../fixtures/ldap/directory.js';
import { deadPort } from '../support/echo-upstream.js';
import { ldapValidatorConfig, startSlapd, type SlapdProcess } from '../support/start-slapd.js';

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { logger: Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { logger: createLogger('debug', sink), text: () => text };
}

const opened: LdapValidator[] = [];
async function open(
  config: LdapValidatorConfig,
  logger: Logger = createLogger('silent'),
  retryFailedUrlAfterMs?: number,
): Promise<LdapValidator> {
  const validator = await LdapValidator.open(config, logger, retryFailedUrlAfterMs === undefined ? {} : { retryFailedUrlAfterMs });
  opened.push(validator);
  return validator;
}
afterAll(async () => {
  await Promise.all(opened.map((v) => v.close()));
});

const valid = (outcome: ValidationOutcome): boolean => outcome.valid;
const principalOf = (outcome: ValidationOutcome) => {
  if (!outcome.valid) throw new Error('expected a valid outcome');
  return outcome.principal;
};

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

describe('directory data', () => {
  let slapd: SlapdProcess;
  beforeAll(async () => {
    slapd = await startSlapd();
  });
  afterAll(async () => {
    await slapd?.stop();
  });

  it("maps the entry into the principal: subject as stored, attributes, memberOf groups (scopes are the policy's, src/oauth/scope-policy.ts)", async () => {
    const v = await open(ldapValidatorConfig(slapd));
    expect(principalOf(await v.validate('ALICE', USERS.alice.password))).toEqual({
      subject: 'alice',
      groups: ['admins', 'editors'],
      attributes: { email: 'alice@example.org', name: 'Alice Liddell' },
    });
    expect(principalOf(await v.validate('joe', USERS.joe.password))).toEqual({
      subject: 'joe',
      groups: ['editors'],
      attributes: { email: 'joe@example.org', name: 'Joe Bloggs' },
    });
  });

  it('tells an unknown user (no entry) from a refused known one (wrong password, disabled, ambiguous) for the chain', async () => {
    const v = await open(ldapValidatorConfig(slapd));
    await expect(v.validate('no-such-user', 'whatever')).resolves.toEqual({ valid: false, reason: 'unknown-user' });
    await expect(v.validate('alice', 'wrong')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
    // dora matches disabledFilter: still this directory's user, so the chain stops at her. Her
    // right password is proven by the bind (account_disabled); a wrong one is just wrong.
    await expect(v.validate('dora', USERS.dora.password)).resolves.toStrictEqual({
      valid: false,
      reason: 'invalid-password',
      state: 'account_disabled',
      passwordVerified: true,
    });
    await expect(v.validate('dora', 'wrong')).resolves.toStrictEqual({ valid: false, reason: 'invalid-password' });
    await expect(v.validate(TWIN.uid, TWIN.password)).resolves.toEqual({ valid: false, reason: 'invalid-password' });
    await expect(v.validate('alice', '')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
  });

  it('direct bind: an unknown DN is unknown-user only when a service account can look it up', async () => {
    const template = { userSearchBase: '', userDnTemplate: `uid={username},${PEOPLE}` };
    const withService = await open(ldapValidatorConfig(slapd, template));
    await expect(withService.validate('no-such-user', 'whatever')).resolves.toEqual({ valid: false, reason: 'unknown-user' });
    await expect(withService.validate('alice', 'wrong')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
    const anonymous = await open(ldapValidatorConfig(slapd, { ...template, bindDn: '', bindPassword: '' }));
    await expect(anonymous.validate('no-such-user', 'whatever')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
    await expect(anonymous.validate('alice', 'wrong')).resolves.toEqual({ valid: false, reason: 'invalid-password' });
  });

  it('accepts a non-ASCII uid in any case and width, and a password with &=+% and non-ASCII characters', async () => {
    const v = await open(ldapValidatorConfig(slapd));
    for (const spelling of ['jürgen', 'JÜRGEN', 'Jürgen', 'ｊüｒｇｅｎ']) {
      const outcome = await v.validate(spelling, USERS.jurgen.password);
      expect(principalOf(outcome).subject, spelling).toBe('jürgen');
    }
    expect(principalOf(await v.validate('jürgen', USERS.jurgen.password)).attributes).toEqual({
      email: 'juergen@example.org',
      name: 'Jürgen Müller',
    });
    expect(valid(await v.validate('jurgen', USERS.jurgen.password))).toBe(false);
    expect(principalOf(await v.validate('gina', USERS.gina.password)).subject).toBe('Gina');
    expect(valid(await v.validate('gina', USERS.gina.password.normalize('NFD')))).toBe(false);
  });

  it('escapes a uid with DN and filter special characters, in search and in direct-bind mode', async () => {
    const search = await open(ldapValidatorConfig(slapd));
    const direct = await open(ldapValidatorConfig(slapd, { userDnTemplate: `uid={username},${PEOPLE}` }));
    for (const v of [search, direct]) {
      expect(principalOf(await v.validate('a+b,c', USERS.special.password)).subject).toBe('a+b,c');
      expect(valid(await v.validate('a+b,c', 'wrong'))).toBe(false);
    }
  });

  it('refuses DN injection in direct-bind mode', async () => {
    const direct = await open(ldapValidatorConfig(slapd, { userDnTemplate: `uid={username},${PEOPLE}` }));
    // Unescaped, these would bind as alice (a DN of her entry, or the same DN with extra RDNs).
    for (const username of [
      'alice,ou=people,dc=example,dc=org',
      'alice,ou=people',
      'alice+cn=Alice Liddell',
      'alice\u0000',
      '#616c696365',
      'uid=alice',
    ]) {
      await expect(direct.validate(username, USERS.alice.password), JSON.stringify(username)).resolves.toMatchObject({ valid: false });
    }
  });

  it('refuses spellings the directory would fold into another user (RFC 4518), so lockout counters cannot be sidestepped', async () => {
    const search = await open(ldapValidatorConfig(slapd));
    const direct = await open(ldapValidatorConfig(slapd, { userDnTemplate: `uid={username},${PEOPLE}` }));
    const spellings = [
      ' alice',
      'alice ',
      '  alice',
      'al\u00adice',
      'al\u200bice',
      'alice\t',
      'alice\n',
      '\u2028alice',
      'a+b,c ',
      'a+b,  c',
    ];
    for (const v of [search, direct]) {
      for (const username of spellings) {
        await expect(
          v.validate(username, username.startsWith('a+b') ? USERS.special.password : USERS.alice.password),
          JSON.stringify(username),
        ).resolves.toMatchObject({ valid: false });
      }
    }
    // Inner single spaces are fine.
    const spaced = await open(ldapValidatorConfig(slapd, { userSearchFilter: '(cn={username})' }));
    expect(principalOf(await spaced.validate('alice liddell', USERS.alice.password)).subject).toBe('alice');
  });

  it('refuses a login whose filter matches two entries, and says so in the log (never with the password)', async () => {
    const { logger, text } = capturingLogger();
    const v = await open(ldapValidatorConfig(slapd), logger);
    await expect(v.validate(TWIN.uid, TWIN.password)).resolves.toMatchObject({ valid: false });
    expect(text()).toContain('the user search matched more than one entry');
    expect(text()).toContain('cn=Twin One,ou=people,dc=example,dc=org');
    expect(text()).not.toContain(TWIN.password);
  });

  it('refuses an entry that matches disabledFilter at login and re-checks it as gone', async () => {
    const v = await open(ldapValidatorConfig(slapd));
    await expect(v.validate('dora', USERS.dora.password)).resolves.toMatchObject({ valid: false });
    await expect(v.recheck('dora')).resolves.toBe('gone');
    // Without the filter dora is an ordinary user.
    const lax = await open(ldapValidatorConfig(slapd, { disabledFilter: '' }));
    expect(valid(await lax.validate('dora', USERS.dora.password))).toBe(true);
    await expect(lax.recheck('dora')).resolves.toBe('active');
  });

  it('sees a user disabled after login at the next re-check', async () => {
    const v = await open(ldapValidatorConfig(slapd));
    expect(valid(await v.validate('jürgen', USERS.jurgen.password))).toBe(true);
    await expect(v.recheck('jürgen')).resolves.toBe('active');
    await slapd.modify(`dn: ${USERS.jurgen.dn}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n`);
    try {
      await expect(v.recheck('jürgen')).resolves.toBe('gone');
      await expect(v.validate('jürgen', USERS.jurgen.password)).resolves.toMatchObject({ valid: false });
    } finally {
      await slapd.modify(`dn: ${USERS.jurgen.dn}\nchangetype: modify\ndelete: employeeType\n`);
    }
    await expect(v.recheck('jürgen')).resolves.toBe('active');
  });

  it('reads groups with a group search, filling {dn} and {username} escaped', async () => {
    const v = await open(
      ldapValidatorConfig(slapd, {
        groups: { memberOfAttribute: '', searchBase: GROUPS, searchFilter: '(|(member={dn})(memberUid={username}))', nameAttribute: 'cn' },
      }),
    );
    expect([...principalOf(await v.validate(OPS_MEMBER, USERS.joe.password)).groups].sort()).toEqual(['editors', 'ops']);
    // A non-ASCII DN in {dn}.
    expect(principalOf(await v.validate('jürgen', USERS.jurgen.password)).groups).toEqual(['editors']);
    expect(principalOf(await v.validate('gina', USERS.gina.password)).groups).toEqual([]);
  });

  it('never leaves a service connection bound as a user (people are visible to the service account only)', async () => {
    // One connection per pool: had a user bind run on the service connection, the next search
    // would run as that user and find nobody else.
    const v = await open(ldapValidatorConfig(slapd, { poolSize: 1 }));
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
    expect(valid(await v.validate('joe', USERS.joe.password))).toBe(true);
    await expect(v.recheck('alice')).resolves.toBe('active');
    await expect(v.recheck('gina')).resolves.toBe('active');
  });

  it('answers many concurrent logins through small pools', async () => {
    const v = await open(ldapValidatorConfig(slapd, { poolSize: 2 }));
    const users = [USERS.alice, USERS.joe, USERS.gina, USERS.jurgen];
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => users[i % 4]!).map((u, i) => v.validate(u.uid, i % 3 === 0 ? 'wrong' : u.password)),
    );
    expect(outcomes.map(valid)).toEqual(Array.from({ length: 40 }, (_, i) => i % 3 !== 0));
  });

  it('answers a refused service account bind as an outage, never as a wrong password', async () => {
    const { logger, text } = capturingLogger();
    const v = await open(ldapValidatorConfig(slapd, { bindPassword: 'not-the-service-password' }), logger);
    const err = await v.validate('alice', USERS.alice.password).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidatorUnavailableError);
    expect((err as Error).message).toMatch(/service account bind was refused/);
    await expect(v.recheck('alice')).rejects.toBeInstanceOf(ValidatorUnavailableError);
    expect(await v.health()).toMatchObject({ status: 'down', detail: expect.stringMatching(/InvalidCredentialsError/) });
    expect(text()).not.toContain('not-the-service-password');
    expect(text()).not.toContain(USERS.alice.password);
  });

  it('answers a search base that does not exist as an outage (a configuration problem)', async () => {
    const v = await open(ldapValidatorConfig(slapd, { userSearchBase: 'ou=nowhere,dc=example,dc=org' }));
    await expect(v.validate('alice', USERS.alice.password)).rejects.toThrow(/NoSuchObjectError/);
  });

  it('re-checks in direct-bind mode with the service account, and answers unsupported without one', async () => {
    const direct = await open(ldapValidatorConfig(slapd, { userDnTemplate: `uid={username},${PEOPLE}`, userSearchBase: '' }));
    await expect(direct.recheck('alice')).resolves.toBe('active');
    await expect(direct.recheck('nobody')).resolves.toBe('gone');
    const anonymous = await open(
      ldapValidatorConfig(slapd, { userDnTemplate: `uid={username},${PEOPLE}`, userSearchBase: '', bindDn: '', bindPassword: '' }),
    );
    expect(principalOf(await anonymous.validate('alice', USERS.alice.password)).groups).toEqual(['admins', 'editors']);
    await expect(anonymous.recheck('alice')).resolves.toBe('unsupported');
  });

  it('reports health with the URL that answers', async () => {
    const v = await open(ldapValidatorConfig(slapd));
    expect(await v.health()).toEqual({ name: 'directory', type: 'ldap', status: 'up', detail: `${slapd.url} answers` });
  });
});

describe('enumeration: an unknown user costs what a wrong password costs', () => {
  let slapd: SlapdProcess;
  let proxy: Server;
  const DELAY_MS = 40;
  beforeAll(async () => {
    slapd = await startSlapd();
    proxy = await delayingProxy(slapd.port, DELAY_MS);
  });
  afterAll(async () => {
    proxy?.close();
    await slapd?.stop();
  });

  it('spends one search and one bind on every refusal (measured through a proxy adding 40 ms per request)', async () => {
    const { port } = proxy.address() as { port: number };
    const v = await open(ldapValidatorConfig({ url: `ldap://127.0.0.1:${port}` }, { poolSize: 1, timeoutMs: 5000 }));
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true); // opens both pools
    const median = async (username: string, password: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const { value, ms } = await timed(() => v.validate(username, password));
        expect(value).toMatchObject({ valid: false });
        times.push(ms);
      }
      return times.sort((a, b) => a - b)[3]!;
    };
    const wrongPassword = await median('alice', 'wrong');
    const unknownUser = await median('no-such-user', 'whatever');
    const ambiguous = await median(TWIN.uid, TWIN.password);
    const disabled = await median('dora', USERS.dora.password);
    const measured = JSON.stringify({ wrongPassword, unknownUser, ambiguous, disabled });
    // Each costs two delayed requests (the search, then a bind); one would be ~40 ms.
    for (const ms of [wrongPassword, unknownUser, ambiguous, disabled]) expect(ms, measured).toBeGreaterThanOrEqual(2 * DELAY_MS - 5);
    expect(unknownUser / wrongPassword, measured).toBeGreaterThan(0.75);
    expect(unknownUser / wrongPassword, measured).toBeLessThan(1.33);
    // An empty password is refused without a request.
    expect((await timed(() => v.validate('alice', ''))).ms).toBeLessThan(DELAY_MS / 2);
  });
});

describe('outages, failover and recovery', () => {
  let slapd: SlapdProcess;
  beforeAll(async () => {
    slapd = await startSlapd();
  });
  afterAll(async () => {
    await slapd?.stop();
  });

  it('answers a stopped directory as an outage within the timeout, and recovers when it is back', async () => {
    const { logger, text } = capturingLogger();
    const v = await open(ldapValidatorConfig(slapd, { timeoutMs: 1000 }), logger);
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
    await slapd.halt();
    try {
      for (const password of [USERS.alice.password, 'wrong']) {
        const { value, ms } = await timed(() => v.validate('alice', password).catch((e: unknown) => e));
        expect(value).toBeInstanceOf(ValidatorUnavailableError);
        expect(ms).toBeLessThan(1500);
      }
      await expect(v.recheck('alice')).rejects.toBeInstanceOf(ValidatorUnavailableError);
      expect(await v.health()).toMatchObject({ status: 'down', detail: expect.stringMatching(/ECONNREFUSED/) });
      // An empty password still answers invalid: it never reaches the directory.
      await expect(v.validate('alice', '')).resolves.toMatchObject({ valid: false });
    } finally {
      await slapd.restart();
    }
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
    expect((await v.health()).status).toBe('up');
    expect(text()).not.toContain(USERS.alice.password);
  });

  it('answers a hung directory (SIGSTOP) as an outage within about the timeout, and recovers', async () => {
    const v = await open(ldapValidatorConfig(slapd, { timeoutMs: 500 }));
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
    await slapd.pause();
    try {
      const { value, ms } = await timed(() => v.validate('alice', USERS.alice.password).catch((e: unknown) => e));
      expect(value).toBeInstanceOf(ValidatorUnavailableError);
      expect(ms).toBeLessThan(1500);
      const health = await timed(() => v.health());
      expect(health.value.status).toBe('down');
      expect(health.ms).toBeLessThan(1500);
    } finally {
      slapd.resume();
    }
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
  });

  it('re-establishes pooled connections after a restart without a failed login', async () => {
    const v = await open(ldapValidatorConfig(slapd, { poolSize: 2 }));
    await Promise.all([v.validate('alice', USERS.alice.password), v.validate('joe', USERS.joe.password)]);
    await slapd.restart();
    const outcomes = await Promise.all([
      v.validate('alice', USERS.alice.password),
      v.validate('joe', USERS.joe.password),
      v.recheck('gina'),
    ]);
    expect(outcomes).toEqual([expect.objectContaining({ valid: true }), expect.objectContaining({ valid: true }), 'active']);
  });

  it('fails over from a dead first URL', async () => {
    const dead = `ldap://127.0.0.1:${await deadPort()}`;
    const { logger, text } = capturingLogger();
    const v = await open(ldapValidatorConfig(slapd, { urls: [dead, slapd.url] }), logger);
    expect(principalOf(await v.validate('alice', USERS.alice.password)).subject).toBe('alice');
    expect(await v.health()).toMatchObject({ status: 'up', detail: `${slapd.url} answers` });
    expect(text()).toContain(dead);
  });

  it('does not make every new connection wait for a hung first URL: it is tried again only after a while', async () => {
    const hung = await blackHole();
    const hungUrl = `ldap://127.0.0.1:${(hung.address() as { port: number }).port}`;
    try {
      const v = await open(
        ldapValidatorConfig(slapd, { urls: [hungUrl, slapd.url], timeoutMs: 400, poolSize: 1 }),
        createLogger('silent'),
        60_000,
      );
      const first = await timed(() => v.validate('alice', USERS.alice.password));
      expect(valid(first.value)).toBe(true);
      expect(first.ms).toBeGreaterThanOrEqual(350); // it paid for the hung URL once
      // Every pooled connection is gone; the new ones go straight to the good URL.
      await slapd.restart();
      const again = await timed(() => v.validate('joe', USERS.joe.password));
      expect(valid(again.value)).toBe(true);
      expect(again.ms).toBeLessThan(300);
    } finally {
      hung.close();
    }
  });

  it('goes back to the first URL once its retry time has passed', async () => {
    const second = await startSlapd();
    try {
      const { logger, text } = capturingLogger();
      const v = await open(ldapValidatorConfig(slapd, { urls: [slapd.url, second.url], poolSize: 1 }), logger, 300);
      await slapd.kill();
      expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
      expect(await v.health()).toMatchObject({ detail: `${second.url} answers` });
      await slapd.restart();
      await second.stop();
      await new Promise((r) => setTimeout(r, 350));
      expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
      expect(await v.health()).toMatchObject({ detail: `${slapd.url} answers` });
      expect(text()).toContain('LDAP server did not answer');
      expect(text()).toContain('LDAP server answers again');
    } finally {
      await second.stop();
    }
  });

  it('refuses to work once closed (the gateway is shutting down)', async () => {
    const v = await LdapValidator.open(ldapValidatorConfig(slapd), createLogger('silent'));
    expect(valid(await v.validate('alice', USERS.alice.password))).toBe(true);
    await v.close();
    await expect(v.validate('alice', USERS.alice.password)).rejects.toBeInstanceOf(ValidatorUnavailableError);
  });
});

/** A TCP proxy to `port` that delays each chunk from the client by `delayMs` (in order). */
async function delayingProxy(port: number, delayMs: number): Promise<Server> {
  const server = createServer((client: Socket) => {
    const upstream = connect(port, '127.0.0.1');
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Accepts connections and never answers (a hung server or a black-holed address). */
async function blackHole(): Promise<Server> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  return server;
}
