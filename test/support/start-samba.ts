/**
 * A real Samba Active Directory domain controller for tests: Debian's `samba` + `samba-ad-dc`
 * (and `samba-ad-provision` for the schema files), run in the foreground (`samba -i`, single
 * process model) as a child process the harness owns, entirely under a temp dir (its own
 * smb.conf: private, lock, state, cache and pid dirs), bound to a private loopback address
 * (`127.77.x.y`: Samba serves LDAP on the standard ports 389 and 636, so every instance gets
 * an address of its own).
 *
 * Provisioning a domain takes a while (and creating the fixture's users more), so it is done
 * once into a template under /var/tmp/ropc-gateway-ci (`ROPC_SAMBA_CACHE`), keyed by the
 * fixture's TEMPLATE_VERSION and Samba's version, and copied for each instance. The template
 * holds test/fixtures/ad/directory.ts: users in their account states, nested groups, domain
 * password settings. LDAPS uses a certificate made at start for the instance's address.
 *
 * {@link sambaSkipReason}: tests skip (with that reason) only when Samba is not installed and
 * `CI` is not `true`; in CI a missing Samba fails them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCert } from './start-slapd.js';
import {
  ADMIN,
  BASE_DN,
  DNS_DOMAIN,
  INNER_GROUP,
  LOCKOUT_THRESHOLD,
  MIN_PASSWORD_LENGTH,
  NETBIOS_DOMAIN,
  OUTER_GROUP,
  REALM,
  SERVICE,
  TEMPLATE_VERSION,
  USERS,
  type AdUser,
} from '../fixtures/ad/directory.js';

const SAMBA = '/usr/sbin/samba';
const SAMBA_TOOL = '/usr/bin/samba-tool';
const SCHEMA = '/usr/share/samba/setup/ad-schema';
const FAKETIME = '/usr/bin/faketime';
/** The Python that has Samba's bindings (not a pyenv shim). */
const PYTHON = '/usr/bin/python3';
const CACHE = process.env['ROPC_SAMBA_CACHE'] ?? '/var/tmp/ropc-gateway-ci';
const START_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;
const ATTEMPTS = 4;

/** Why Samba tests cannot run here, or undefined when they can. In CI nothing is a reason. */
export function sambaSkipReason(): string | undefined {
  if (process.env['CI'] === 'true') return undefined;
  const missing = [SAMBA, SAMBA_TOOL, SCHEMA, FAKETIME].filter((path) => !existsSync(path));
  if (missing.length > 0)
    return `Samba AD tests skipped: ${missing.join(', ')} missing (apt-get install samba samba-ad-dc samba-ad-provision faketime)`;
  if (process.getuid?.() !== 0) return 'Samba AD tests skipped: samba must run as root';
  return undefined;
}

/** A running test domain controller. */
export interface SambaProcess {
  /** `ldaps://127.77.x.y` (port 636) */
  readonly ldapsUrl: string;
  /** `ldap://127.77.x.y` (port 389; simple binds are refused without TLS, as AD may be set up) */
  readonly ldapUrl: string;
  readonly address: string;
  /** The certificate of the instance (its own CA), for `tlsCaFile`. */
  readonly caFile: string;
  readonly dir: string;
  /** `samba-tool ARGS -s <this smb.conf>`, e.g. `['user', 'disable', 'erin']`. */
  tool(args: readonly string[]): Promise<string>;
  /** `ldapmodify` over LDAPS as Administrator. */
  modify(ldif: string): Promise<void>;
  /** `ldapsearch` over LDAPS as Administrator: the LDIF output (values base64 when binary). */
  search(filter: string, attributes: readonly string[]): Promise<string>;
  /** SIGTERM, wait for the exit, remove the temp dir. Never hangs. */
  stop(): Promise<void>;
}

export async function startSamba(): Promise<SambaProcess> {
  const template = await ensureTemplate();
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const address = await freeLoopbackAddress();
    const samba = new Samba(address);
    try {
      await samba.start(template);
      return samba;
    } catch (err) {
      lastError = err;
      await samba.stop();
    }
  }
  throw new Error(`could not start samba after ${ATTEMPTS} attempts`, { cause: lastError });
}

class Samba implements SambaProcess {
  readonly ldapsUrl: string;
  readonly ldapUrl: string;
  readonly dir: string;
  readonly caFile: string;
  #child: ChildProcess | undefined;
  #output = '';
  readonly #killOnExit = (): void => {
    this.#child?.kill('SIGKILL');
  };

  constructor(readonly address: string) {
    this.ldapsUrl = `ldaps://${address}`;
    this.ldapUrl = `ldap://${address}`;
    this.dir = mkdtempSync(join(tmpdir(), 'ropc-samba-'));
    this.caFile = join(this.dir, 'tls', 'server.crt');
  }

  get #conf(): string {
    return join(this.dir, 'etc', 'smb.conf');
  }

  async start(template: string): Promise<void> {
    for (const sub of ['private', 'state', 'bind-dns']) await run('cp', ['-a', join(template, sub), join(this.dir, sub)]);
    mkdirSync(join(this.dir, 'etc'));
    mkdirSync(join(this.dir, 'tls'));
    const { keyFile: key } = await selfSignedCert(join(this.dir, 'tls'), 'server', {
      cn: `dc1.${DNS_DOMAIN}`,
      altNames: `IP:${this.address},DNS:dc1.${DNS_DOMAIN}`,
    });
    writeFileSync(this.#conf, smbConf(this.dir, this.address, { certFile: this.caFile, keyFile: key }));
    const child = spawn(SAMBA, ['-i', '-M', 'single', '-s', this.#conf, '--debug-stdout', '-d', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    process.once('exit', this.#killOnExit);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!((await accepts(this.address, 636)) && (await accepts(this.address, 389)))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`samba exited on ${this.address}: ${this.#output}`);
      if (Date.now() > deadline) throw new Error(`samba did not start serving on ${this.address}: ${this.#output}`);
      await sleep(100);
    }
  }

  tool(args: readonly string[]): Promise<string> {
    return run(SAMBA_TOOL, [...args, '-s', this.#conf]);
  }

  async modify(ldif: string): Promise<void> {
    await run('ldapmodify', this.#adminArgs(), ldif, this.#ldapEnv());
  }

  search(filter: string, attributes: readonly string[]): Promise<string> {
    return run(
      'ldapsearch',
      [...this.#adminArgs(), '-LLL', '-o', 'ldif-wrap=no', '-b', BASE_DN, filter, ...attributes],
      undefined,
      this.#ldapEnv(),
    );
  }

  #adminArgs(): string[] {
    return ['-x', '-H', this.ldapsUrl, '-D', `${ADMIN.name}@${DNS_DOMAIN}`, '-w', ADMIN.password];
  }

  #ldapEnv(): NodeJS.ProcessEnv {
    return { ...process.env, LDAPTLS_CACERT: this.caFile, LDAPTLS_REQCERT: 'demand' };
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    process.removeListener('exit', this.#killOnExit);
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The smb.conf of an instance (or, with `tls` undefined, of the template while it is filled):
 * every directory under `dir`, only the LDAP service, only `address`.
 */
function smbConf(dir: string, address: string, tls: { certFile: string; keyFile: string } | undefined): string {
  const lines = [
    '[global]',
    'netbios name = DC1',
    `realm = ${REALM}`,
    `workgroup = ${NETBIOS_DOMAIN}`,
    'server role = active directory domain controller',
    'server services = ldap',
    // An address of lo's 127.0.0.0/8 that no interface has: Samba accepts it with the netmask.
    `interfaces = ${address}/8`,
    'bind interfaces only = yes',
    `private dir = ${dir}/private`,
    `lock directory = ${dir}/lock`,
    `state directory = ${dir}/state`,
    `cache directory = ${dir}/cache`,
    `pid directory = ${dir}/pid`,
    `binddns dir = ${dir}/bind-dns`,
    `ncalrpc dir = ${dir}/ncalrpc`,
    `log file = ${dir}/log.%m`,
    'idmap_ldb:use rfc2307 = yes',
    // Samba accepts the previous password for an hour after a change (for NTLM); Windows
    // domain controllers refuse it on an LDAP bind at once, and so should the test domain.
    'old password allowed period = 0',
    ...(tls ? ['tls enabled = yes', `tls certfile = ${tls.certFile}`, `tls keyfile = ${tls.keyFile}`, `tls cafile = ${tls.certFile}`] : []),
  ];
  return `${lines.join('\n\t')}\n`;
}

/**
 * The provisioned template's directory, made once per TEMPLATE_VERSION and Samba version
 * (in a dir of its own, renamed into place when complete, so a concurrent or interrupted
 * provisioning never leaves a half-made template in use).
 */
async function ensureTemplate(): Promise<string> {
  const version = (await run(SAMBA, ['--version'])).trim().replace(/[^A-Za-z0-9.-]+/g, '_');
  const template = join(CACHE, `samba-${TEMPLATE_VERSION}-${version}`);
  if (existsSync(template)) return template;
  mkdirSync(CACHE, { recursive: true });
  const partial = mkdtempSync(`${template}.partial-`);
  try {
    await provision(partial);
    try {
      renameSync(partial, template);
    } catch (err) {
      if (!existsSync(template)) throw err; // another run finished first: use its template
      rmSync(partial, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
  return template;
}

async function provision(dir: string): Promise<void> {
  const conf = join(dir, 'etc', 'smb.conf');
  await run(SAMBA_TOOL, [
    'domain',
    'provision',
    '--use-rfc2307',
    '--server-role=dc',
    '--dns-backend=NONE',
    `--realm=${REALM}`,
    `--domain=${NETBIOS_DOMAIN}`,
    `--adminpass=${ADMIN.password}`,
    `--targetdir=${dir}`,
    '--host-name=dc1',
    '--host-ip=127.0.0.1',
  ]);
  writeFileSync(conf, smbConf(dir, '127.0.0.1', undefined));
  const tool = (args: readonly string[], prefix: readonly string[] = []): Promise<string> =>
    prefix.length > 0 ? run(prefix[0]!, [...prefix.slice(1), SAMBA_TOOL, ...args, '-s', conf]) : run(SAMBA_TOOL, [...args, '-s', conf]);
  // Passwords never expire by age (the template may be old); hank's expire through a PSO.
  await tool([
    'domain',
    'passwordsettings',
    'set',
    '--complexity=on',
    `--min-pwd-length=${MIN_PASSWORD_LENGTH}`,
    '--min-pwd-age=0',
    '--max-pwd-age=0',
    '--history-length=3',
    `--account-lockout-threshold=${LOCKOUT_THRESHOLD}`,
    '--account-lockout-duration=30',
    '--reset-account-lockout-after=30',
  ]);
  const create = (u: AdUser, extra: readonly string[] = []): Promise<string> => tool(['user', 'create', u.sam, u.password, ...extra]);
  await create(SERVICE);
  await create(USERS.alice, ['--given-name=Alice', '--surname=Liddell', `--mail-address=alice@${DNS_DOMAIN}`]);
  for (const u of [USERS.bob, USERS.carol, USERS.erin, USERS.frank, USERS.gina, USERS.hank, USERS.pat]) await create(u);
  await create(USERS.dave, ['--must-change-at-next-login']);
  await tool(['group', 'add', INNER_GROUP]);
  await tool(['group', 'add', OUTER_GROUP]);
  await tool(['group', 'addmembers', INNER_GROUP, USERS.alice.sam]);
  await tool(['group', 'addmembers', OUTER_GROUP, INNER_GROUP]);
  await tool(['user', 'disable', USERS.bob.sam]);
  await tool(['user', 'setexpiry', USERS.carol.sam, '--days=0']);
  // Samba computes "never expires" for a maximum age of one day or less, hence two days, and
  // pwdLastSet can only be written as 0 or -1: so the password is set three days in the past.
  await tool(['domain', 'passwordsettings', 'pso', 'create', 'expiring', '1', '--min-pwd-age=0', '--max-pwd-age=2']);
  await tool(['domain', 'passwordsettings', 'pso', 'apply', 'expiring', USERS.hank.sam]);
  await tool(['user', 'setpassword', USERS.hank.sam, `--newpassword=${USERS.hank.password}`], [FAKETIME, '-f', '-3d']);
  await run(PYTHON, ['-c', SET_ATTRIBUTES, conf, join(dir, 'private', 'sam.ldb'), USERS.frank.dn, USERS.gina.dn]);
}

/** Attributes samba-tool has no option for: frank may log on at no hour, gina only from NOWHERE. */
const SET_ATTRIBUTES = `
import sys, ldb
from samba.samdb import SamDB
from samba.param import LoadParm
from samba.auth import system_session
conf, url, frank, gina = sys.argv[1:5]
lp = LoadParm(); lp.load(conf)
db = SamDB(url=url, session_info=system_session(), lp=lp)
for dn, attr, value in ((frank, 'logonHours', bytes(21)), (gina, 'userWorkstations', b'NOWHERE')):
    m = ldb.Message(); m.dn = ldb.Dn(db, dn)
    m[attr] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, attr)
    db.modify(m)
`;

/** A loopback address in 127.77.0.0/16 where nothing listens on 389 or 636. */
async function freeLoopbackAddress(): Promise<string> {
  for (;;) {
    const address = `127.77.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    if ((await canListen(address, 389)) && (await canListen(address, 636))) return address;
  }
}

async function canListen(host: string, port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, host);
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function run(command: string, args: readonly string[], input?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.slice(0, 3).join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
