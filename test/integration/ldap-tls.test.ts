/**
 * LDAPS and StartTLS against a second slapd with a self-signed certificate for 127.0.0.1, made
 * at test time. That slapd refuses simple binds without TLS, as a production directory would,
 * so a validator that sent a password in clear would fail these tests.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { LdapValidator } from '../../src/validators/ldap.js';
import { ValidatorUnavailableError } from '../../src/validators/types.js';
import { USERS } from '../fixtures/ldap/directory.js';
import { ldapValidatorConfig, startSlapd, type SlapdProcess } from '../support/start-slapd.js';

let slapd: SlapdProcess;
const opened: LdapValidator[] = [];

beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
});
afterAll(async () => {
  await Promise.all(opened.map((v) => v.close()));
  await slapd?.stop();
});

async function open(overrides: Partial<LdapValidatorConfig>, logger: Logger = createLogger('silent')): Promise<LdapValidator> {
  const v = await LdapValidator.open(ldapValidatorConfig(slapd, { timeoutMs: 2000, ...overrides }), logger);
  opened.push(v);
  return v;
}

const ldaps = (): Partial<LdapValidatorConfig> => ({ urls: [slapd.ldapsUrl!] });
const startTls = (): Partial<LdapValidatorConfig> => ({ urls: [slapd.url], startTls: true });

async function refusal(v: LdapValidator): Promise<string> {
  const err = await v.validate('alice', USERS.alice.password).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidatorUnavailableError);
  return (err as Error).message;
}

describe.each([
  ['LDAPS', ldaps],
  ['StartTLS', startTls],
] as const)('%s', (_name, transport) => {
  it('logs in when the certificate verifies with tlsCaFile', async () => {
    const v = await open({ ...transport(), tlsCaFile: slapd.caFile! });
    const outcome = await v.validate('alice', USERS.alice.password);
    expect(outcome).toMatchObject({ valid: true, principal: { subject: 'alice', groups: ['admins', 'editors'] } });
    await expect(v.validate('alice', 'wrong')).resolves.toMatchObject({ valid: false });
    await expect(v.validate('no-such-user', 'x')).resolves.toMatchObject({ valid: false });
    await expect(v.recheck('alice')).resolves.toBe('active');
    expect(await v.health()).toMatchObject({ status: 'up' });
  });

  it('refuses a certificate the CA file does not verify: an outage, never a wrong password', async () => {
    const v = await open({ ...transport(), tlsCaFile: slapd.wrongCaFile! });
    expect(await refusal(v)).toMatch(/certificate/);
    expect(await v.health()).toMatchObject({ status: 'down', detail: expect.stringMatching(/certificate/) });
  });

  it('refuses a self-signed certificate with the system CAs (verification is on by default)', async () => {
    const v = await open(transport());
    expect(await refusal(v)).toMatch(/self-signed certificate/);
  });

  it('connects without verification only when tlsRejectUnauthorized is false, and warns', async () => {
    let logs = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    const v = await open({ ...transport(), tlsRejectUnauthorized: false }, createLogger('info', sink));
    expect((await v.validate('alice', USERS.alice.password)).valid).toBe(true);
    expect(logs).toContain('tlsRejectUnauthorized is false');
  });
});

it('fails closed without TLS: the directory refuses a clear-text bind and that is an outage', async () => {
  const v = await open({ urls: [slapd.url] });
  expect(await refusal(v)).toMatch(/ConfidentialityRequiredError|StrongAuthRequiredError/);
});

it('keeps StartTLS connections working across a directory restart (no clear-text reconnect, no failed login)', async () => {
  const v = await open({ ...startTls(), tlsCaFile: slapd.caFile!, poolSize: 1 });
  expect((await v.validate('alice', USERS.alice.password)).valid).toBe(true);
  await slapd.restart();
  // ldapts would reconnect a closed client silently without TLS; the directory would then
  // refuse the bind (confidentiality required) and this would be a 503.
  expect((await v.validate('alice', USERS.alice.password)).valid).toBe(true);
  expect((await v.validate('joe', USERS.joe.password)).valid).toBe(true);
  await expect(v.recheck('gina')).resolves.toBe('active');
});
