/**
 * A real OpenLDAP `slapd` for tests (docs/architecture.md): Debian's slapd with a slapd.conf (mdb backend,
 * memberof overlay) in a fresh temp dir, loaded with `slapadd` from test/fixtures/ldap/seed.ldif,
 * run in the foreground (`-d 0`) as a child process the harness owns, on free private ports.
 * Fault tests stop, pause (SIGSTOP) and restart it; the data survives a restart.
 *
 * Run as root (the tests' usual case), slapd drops to the `openldap` user (`-u`/`-g`) and the
 * temp dir is handed to that user. With `tls`, a self-signed certificate for IP 127.0.0.1 is
 * made with `openssl req -x509` at start, and slapd also listens on `ldaps://`; StartTLS works
 * on the `ldap://` port, and simple binds are refused without TLS. No key is committed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LdapValidatorConfig } from '../../src/config/types.js';
import { ADMIN, DISABLED_FILTER, PEOPLE, SERVICE, SUFFIX } from '../fixtures/ldap/directory.js';
import { DEFAULT_POLICY, ppolicyLdif } from '../fixtures/ldap/ppolicy.js';
import { freePort } from './ports.js';
import { sleep } from './wait-for.js';

/** `SLAPD` overrides the binary; otherwise Debian's `/usr/sbin/slapd`. */
const SLAPD = process.env['SLAPD'] ?? '/usr/sbin/slapd';
const SLAPADD = process.env['SLAPADD'] ?? '/usr/sbin/slapadd';
const SEED = fileURLToPath(new URL('../fixtures/ldap/seed.ldif', import.meta.url));
const START_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;
const ATTEMPTS = 5;

export interface StartSlapdOptions {
  /** Also listen on ldaps:// with a fresh self-signed certificate (and allow StartTLS). */
  readonly tls?: boolean;
  /** LDIF to load instead of the fixture. */
  readonly ldif?: string;
  /**
   * Run with `-d stats` and keep the whole log ({@link SlapdProcess.statsLog}), so a test can
   * count the operations the directory really saw (e.g. the BINDs of one DN).
   */
  readonly logStats?: boolean;
  /**
   * Load the password policy overlay (`moduleload ppolicy`, `overlay ppolicy`, with
   * `ppolicy_default` {@link DEFAULT_POLICY} and `ppolicy_use_lockout`) and the directory of
   * test/fixtures/ldap/ppolicy.ts (its policies and one user per account state) unless `ldif`
   * is given.
   */
  readonly ppolicy?: boolean;
}

/** A running test slapd. */
export interface SlapdProcess {
  /** `ldap://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** `ldaps://127.0.0.1:PORT` with `tls`. */
  readonly ldapsUrl: string | undefined;
  /** The CA (the self-signed certificate itself) that verifies the server, with `tls`. */
  readonly caFile: string | undefined;
  /** Another self-signed certificate: a CA that does NOT verify the server, with `tls`. */
  readonly wrongCaFile: string | undefined;
  readonly dir: string;
  /** SIGTERM (after SIGCONT), wait for the exit, remove the temp dir. Never hangs. Final. */
  stop(): Promise<void>;
  /** SIGTERM and wait for the exit, keeping the data for {@link restart} (a directory outage). */
  halt(): Promise<void>;
  /** Starts again on the same ports with the same data (halts first when running). */
  restart(): Promise<void>;
  /**
   * SIGSTOP: connections are accepted by the kernel, but nothing answers (a hung server).
   * Resolves once every thread has stopped: on a busy machine a stop can lag the signal by
   * milliseconds, long enough for a request to slip through.
   */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** SIGKILL (a crash) and wait for the exit; the temp dir stays until stop(). */
  kill(): Promise<void>;
  /** `ldapdelete` as the directory manager. */
  deleteEntry(dn: string): Promise<void>;
  /** `ldapmodify` (LDIF with changetype lines) as the directory manager. */
  modify(ldif: string): Promise<void>;
  /** With `logStats`: slapd's stats log since it started (all of it). */
  statsLog(): string;
  /** With `logStats`: how many simple BINDs of `dn` slapd logged (a real count, from the server). */
  bindCount(dn: string): number;
}

/** Starts a slapd on free ports, retrying with other ports if one found is taken meanwhile. */
export async function startSlapd(options: StartSlapdOptions = {}): Promise<SlapdProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const server = new Slapd(await freePort(), options.tls ? await freePort() : undefined, options);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
    }
  }
  throw new Error(`could not start slapd after ${ATTEMPTS} attempts`, { cause: lastError });
}

/**
 * An `ldap` validator configuration for the fixture directory: search-then-bind as the service
 * account, memberOf groups, `admins` → `admin` scope, the fixture's disabledFilter.
 */
export function ldapValidatorConfig(slapd: Pick<SlapdProcess, 'url'>, overrides: Partial<LdapValidatorConfig> = {}): LdapValidatorConfig {
  return {
    name: 'directory',
    type: 'ldap',
    caseSensitive: false,
    subjectPrefix: '',
    urls: [slapd.url],
    startTls: false,
    tlsCaFile: '',
    tlsRejectUnauthorized: true,
    bindDn: SERVICE.dn,
    bindPassword: SERVICE.password,
    userSearchBase: PEOPLE,
    userSearchFilter: '(uid={username})',
    userDnTemplate: '',
    subjectAttribute: 'uid',
    attributes: { email: 'mail', name: 'cn' },
    groups: { memberOfAttribute: 'memberOf', searchBase: '', searchFilter: '(member={dn})', nameAttribute: 'cn' },
    groupScopes: { admins: ['admin'] },
    disabledFilter: DISABLED_FILTER,
    timeoutMs: 2000,
    poolSize: 2,
    reveal: 'none',
    passwordChangeWithoutTls: false,
    ...overrides,
  };
}

/**
 * Makes a self-signed certificate (an EC key: quick to generate) in `dir`, as `name`.crt and
 * `name`.key: by default for IP 127.0.0.1; `host` gives another subject and subjectAltName.
 * @returns the PEM file paths.
 */
export async function selfSignedCert(
  dir: string,
  name: string,
  host: { readonly cn: string; readonly altNames: string } = { cn: '127.0.0.1', altNames: 'IP:127.0.0.1' },
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${host.cn}`,
    '-addext',
    `subjectAltName=${host.altNames}`,
  ]);
  return { certFile, keyFile };
}

class Slapd implements SlapdProcess {
  readonly url: string;
  readonly ldapsUrl: string | undefined;
  caFile: string | undefined;
  wrongCaFile: string | undefined;
  readonly dir: string;
  #child: ChildProcess | undefined;
  #prepared = false;
  #output = '';
  #stats = '';
  readonly #killOnExit = (): void => {
    this.#child?.kill('SIGKILL');
  };

  constructor(
    readonly port: number,
    readonly tlsPort: number | undefined,
    private readonly options: StartSlapdOptions,
  ) {
    this.url = `ldap://127.0.0.1:${port}`;
    this.ldapsUrl = tlsPort === undefined ? undefined : `ldaps://127.0.0.1:${tlsPort}`;
    this.dir = mkdtempSync(join(tmpdir(), 'ropc-slapd-'));
  }

  async start(): Promise<void> {
    if (!this.#prepared) await this.#prepare();
    this.#output = '';
    const listen = [`${this.url}/`, ...(this.ldapsUrl ? [`${this.ldapsUrl}/`] : [])].join(' ');
    const user = process.getuid?.() === 0 ? ['-u', 'openldap', '-g', 'openldap'] : [];
    const child = spawn(SLAPD, ['-d', this.options.logStats ? 'stats' : '0', ...user, '-f', join(this.dir, 'slapd.conf'), '-h', listen], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-4000);
      if (this.options.logStats) this.#stats += chunk.toString();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    process.once('exit', this.#killOnExit);
    await this.#waitUntilServing(child);
  }

  async stop(): Promise<void> {
    await this.#terminate('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  async halt(): Promise<void> {
    await this.#terminate('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.#terminate('SIGTERM');
    let lastError: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        lastError = err;
        await this.#terminate('SIGKILL');
        await sleep(200);
      }
    }
    throw new Error(`could not restart slapd on ${this.url}`, { cause: lastError });
  }

  async pause(): Promise<void> {
    this.#signal('SIGSTOP');
    const pid = this.#child?.pid;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!allThreadsStopped(pid)) {
      if (Date.now() > deadline) throw new Error(`slapd on ${this.url} did not stop`);
      await sleep(2);
    }
  }

  resume(): void {
    this.#signal('SIGCONT');
  }

  async kill(): Promise<void> {
    await this.#terminate('SIGKILL');
  }

  statsLog(): string {
    return this.#stats;
  }

  bindCount(dn: string): number {
    // Stats lines: `conn=1003 op=1 BIND dn="uid=joe,ou=people,dc=example,dc=org" method=128`.
    const needle = `BIND dn="${dn}" method=128`;
    return this.#stats.split('\n').filter((line) => line.includes(needle)).length;
  }

  deleteEntry(dn: string): Promise<void> {
    return this.#asAdmin('ldapdelete', [dn]);
  }

  modify(ldif: string): Promise<void> {
    return this.#asAdmin('ldapmodify', [], ldif);
  }

  /** ldap-utils as the directory manager; over LDAPS when the instance has TLS (it requires it). */
  #asAdmin(command: string, args: readonly string[], input?: string): Promise<void> {
    const env = this.caFile ? { ...process.env, LDAPTLS_CACERT: this.caFile } : process.env;
    return run(command, ['-x', '-H', this.ldapsUrl ?? this.url, '-D', ADMIN.dn, '-w', ADMIN.password, ...args], input, env);
  }

  async #prepare(): Promise<void> {
    const data = join(this.dir, 'data');
    mkdirSync(data);
    const tls: string[] = [];
    if (this.ldapsUrl) {
      const server = await selfSignedCert(this.dir, 'server');
      const wrong = await selfSignedCert(this.dir, 'wrong-ca');
      this.caFile = server.certFile;
      this.wrongCaFile = wrong.certFile;
      // Like a production directory: simple binds (passwords) only over TLS.
      tls.push(`TLSCertificateFile ${server.certFile}`, `TLSCertificateKeyFile ${server.keyFile}`, 'security simple_bind=64');
    }
    const ppolicy = this.options.ppolicy === true;
    writeFileSync(join(this.dir, 'slapd.conf'), slapdConf(this.dir, data, tls, ppolicy));
    let ldif = this.options.ldif ?? SEED;
    if (ppolicy && this.options.ldif === undefined) {
      ldif = join(this.dir, 'ppolicy.ldif');
      writeFileSync(ldif, ppolicyLdif());
    }
    await run(SLAPADD, ['-q', '-f', join(this.dir, 'slapd.conf'), '-l', ldif]);
    if (process.getuid?.() === 0) chownTree(this.dir, 'openldap');
    this.#prepared = true;
  }

  #signal(signal: NodeJS.Signals): void {
    if (!this.#running()) throw new Error(`slapd on ${this.url} is not running`);
    this.#child?.kill(signal);
  }

  #running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async #terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    process.removeListener('exit', this.#killOnExit);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    child.kill('SIGCONT'); // a paused process acts on SIGTERM only once continued
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Serving = our child wrote its pid file and the port accepts connections. */
  async #waitUntilServing(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const pidFile = join(this.dir, 'slapd.pid');
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`slapd exited on ${this.url}: ${this.#output}`);
      const pid = readIfExists(pidFile).trim();
      if (pid === String(child.pid) && (await accepts(this.port)) && (this.tlsPort === undefined || (await accepts(this.tlsPort)))) return;
      await sleep(25);
    }
    throw new Error(`slapd did not start serving on ${this.url}: ${this.#output}`);
  }
}

/**
 * The password policy overlay (slapo-ppolicy(5)): the default policy entry, and
 * `ppolicy_use_lockout` so that a locked account's bind answers the accountLocked error (for
 * a right and a wrong password alike) instead of saying nothing.
 */
const PPOLICY = ['overlay ppolicy', `ppolicy_default "${DEFAULT_POLICY}"`, 'ppolicy_use_lockout'];

function slapdConf(dir: string, data: string, tls: readonly string[], ppolicy: boolean): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
${ppolicy ? 'moduleload ppolicy' : ''}
${tls.join('\n')}
database mdb
maxsize 104857600
suffix "${SUFFIX}"
rootdn "${ADMIN.dn}"
rootpw ${ADMIN.password}
directory ${data}
index objectClass,uid,member,memberUid eq
overlay memberof
${ppolicy ? PPOLICY.join('\n') : ''}
# Anonymous users may only bind (and read the root DSE). People are readable by the service
# account and by themselves only, so a search bound as some user finds nobody else: a pooled
# service connection left bound as a user would show.
access to attrs=userPassword by self write by anonymous auth by * none
access to dn.base="" by * read
access to dn.subtree="${PEOPLE}" by dn.exact="${SERVICE.dn}" read by self read by * none
access to * by users read by * none
`;
}

/** Whether every thread of `pid` is in the stopped state (`T` in /proc/PID/task/TID/stat). */
function allThreadsStopped(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
    });
  } catch {
    return false;
  }
}

function chownTree(path: string, user: string): void {
  const { uid, gid } = idOf(user);
  const walk = (p: string): void => {
    chownSync(p, uid, gid);
    if (statSync(p).isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(path);
  chmodSync(path, 0o700);
}

function idOf(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no user ${user} (is Debian's slapd package installed?)`);
  return { uid: Number(uid), gid: Number(gid) };
}

function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Runs a command; rejects with its output when it fails. */
function run(command: string, args: readonly string[], input?: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${output.trim()}`))));
    // A command that exits without reading its input (openssl, slaptest) closes the pipe: the
    // write's EPIPE is not the command's failure — its exit code is.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}
