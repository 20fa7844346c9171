/**
 * The servers of the benchmark, each a child process pinned to the server CPU on a private
 * 127.0.0.1 port under one temp dir: the upstream, redis-server, slapd, nginx, the bare Node
 * proxies, the LDAP-bind+SETEX reference and the gateways (from dist/, as `ropc-gateway start`).
 */
import type { MemoryCgroup } from './cgroup.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, chmodSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { freePort, hasCommand, SERVER_CPU, sleep, spawnChild, tail, waitForPort, type Child } from './proc.js';

export interface Env {
  /** Repository root. */
  readonly root: string;
  /** Private temp dir of this run. */
  readonly dir: string;
  /** Compiled bench files (.tmp/bench). */
  readonly benchOut: string;
}

export interface Service {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Processes to account CPU and RSS to. */
  readonly pids: readonly number[];
  readonly children: readonly Child[];
  /** Empties the service's log (between cases). */
  truncateLog(): void;
  logTail(): string;
}

function service(name: string, port: number, children: Child[], url = `http://127.0.0.1:${port}`): Service {
  return {
    name,
    url,
    port,
    // The process itself first (RSS and "main" CPU are read from it), then its log sink.
    pids: children.flatMap((c) => (c.sinkPid === undefined ? [c.pid] : [c.pid, c.sinkPid])),
    children,
    truncateLog: () => {
      for (const c of children) {
        try {
          truncateSync(c.logFile, 0);
        } catch {
          // gone
        }
      }
    },
    logTail: () => children.map((c) => `--- ${c.name} (${c.logFile})\n${tail(c.logFile)}`).join('\n'),
  };
}

/** Extra node flags (e.g. --cpu-prof) per service name, set by the profile mode. */
export const nodeFlags = new Map<string, string[]>();

/** The memory cgroup every gateway starts in (`--memory-limit`, cgroup.ts); none by default. */
export const gatewayLimits: { cgroup?: MemoryCgroup } = {};

function nodeArgs(name: string, script: string, args: readonly string[]): string[] {
  return [...(nodeFlags.get(name) ?? []), script, ...args];
}

export async function startNodeServer(env: Env, name: string, script: string, args: (port: number) => string[]): Promise<Service> {
  const port = await freePort();
  const child = spawnChild(name, process.execPath, nodeArgs(name, join(env.benchOut, 'servers', script), args(port)), {
    cpu: SERVER_CPU,
    logFile: join(env.dir, `${name}.log`),
    cwd: env.root,
  });
  await waitForPort(port, child);
  return service(name, port, [child]);
}

export async function startRedis(env: Env): Promise<Service> {
  const port = await freePort();
  const dir = join(env.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawnChild(
    'redis-server',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    {
      cpu: SERVER_CPU,
      logFile: join(env.dir, 'redis.log'),
    },
  );
  await waitForPort(port, child);
  return service('redis-server', port, [child], `redis://127.0.0.1:${port}`);
}

export const LDAP_SUFFIX = 'dc=example,dc=org';
export const LDAP_DN_TEMPLATE = `uid={username},ou=people,${LDAP_SUFFIX}`;
/** slapd's rootdn: the service account of the search-then-bind validator. */
const LDAP_ADMIN_DN = `cn=admin,${LDAP_SUFFIX}`;
const LDAP_ADMIN_PASSWORD = 'bench-admin';

/**
 * How many directory users the LDAP cases log in as, in turn. One user for every connection
 * would measure the lockout's limit of `maxFailures` logins of one user in flight (the others
 * wait and retry, src/security/lockout.ts), not the grant: with 32 users, 50 connections keep
 * one or two logins per user in flight.
 */
export const LDAP_USERS = 32;

/** `user`, then `user1` … `user31`: the LDAP cases' users, all with the same password. */
export function ldapUsers(user: string): string[] {
  return [user, ...Array.from({ length: LDAP_USERS - 1 }, (_, i) => `${user}${i + 1}`)];
}

/** Whether slapd and its tools are installed; the reason when not. */
export function slapdMissing(): string | undefined {
  for (const bin of ['/usr/sbin/slapd', '/usr/sbin/slapadd', '/usr/sbin/slappasswd']) {
    if (!existsSync(bin)) return `${bin} not found (apt-get install -y slapd ldap-utils)`;
  }
  return undefined;
}

/** A minimal slapd (../shared/SERVICES.md): mdb, one user `uid=USER` with PASSWORD, no overlays. */
export async function startSlapd(env: Env, user: string, password: string): Promise<Service> {
  const port = await freePort();
  const dir = join(env.dir, 'slapd');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const hash = execFileSync('/usr/sbin/slappasswd', ['-s', password], { encoding: 'utf8' }).trim();
  const conf = join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      `pidfile ${dir}/slapd.pid`,
      `argsfile ${dir}/slapd.args`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      'maxsize 104857600',
      `suffix "${LDAP_SUFFIX}"`,
      `rootdn "${LDAP_ADMIN_DN}"`,
      `rootpw ${LDAP_ADMIN_PASSWORD}`,
      `directory ${dir}/data`,
      'index objectClass,uid eq',
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by * read',
      '',
    ].join('\n'),
  );
  const ldif = join(dir, 'seed.ldif');
  writeFileSync(
    ldif,
    [
      `dn: ${LDAP_SUFFIX}`,
      'objectClass: dcObject',
      'objectClass: organization',
      'o: Example',
      'dc: example',
      '',
      `dn: ou=people,${LDAP_SUFFIX}`,
      'objectClass: organizationalUnit',
      'ou: people',
      '',
      ...ldapUsers(user).flatMap((uid) => [
        `dn: uid=${uid},ou=people,${LDAP_SUFFIX}`,
        'objectClass: inetOrgPerson',
        `uid: ${uid}`,
        'cn: Bench User',
        'sn: User',
        `mail: ${uid}@example.org`,
        `userPassword: ${hash}`,
        '',
      ]),
    ].join('\n'),
  );
  execFileSync('/usr/sbin/slapadd', ['-q', '-f', conf, '-l', ldif], { stdio: 'pipe' });
  // As root, slapd drops to the openldap user, which must own its files.
  const args = ['-d', '0', '-f', conf, '-h', `ldap://127.0.0.1:${port}/`];
  if (process.getuid?.() === 0 && spawnSync('id', ['openldap'], { stdio: 'ignore' }).status === 0) {
    const uid = Number(execFileSync('id', ['-u', 'openldap'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'openldap'], { encoding: 'utf8' }));
    for (const p of [dir, join(dir, 'data'), ...readdirSync(join(dir, 'data')).map((f) => join(dir, 'data', f)), conf, ldif])
      chownSync(p, uid, gid);
    chownSync(env.dir, uid, gid);
    args.push('-u', 'openldap', '-g', 'openldap');
  }
  const child = spawnChild('slapd', '/usr/sbin/slapd', args, { cpu: SERVER_CPU, logFile: join(env.dir, 'slapd.log') });
  await waitForPort(port, child);
  return service('slapd', port, [child], `ldap://127.0.0.1:${port}`);
}

export function nginxMissing(): string | undefined {
  return hasCommand('nginx', ['-v']) ? undefined : 'nginx not installed (apt-get install -y nginx-light): the nginx case is skipped';
}

/** nginx as a keep-alive reverse proxy (keepalive 64, HTTP/1.1 upstream), one worker, no access log. */
export function startNginx(env: Env, upstreamPort: number): Promise<Service> {
  return startNginxWith(
    env,
    'nginx',
    (port) => `  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
`,
  );
}

/**
 * nginx `auth_request` in front of the upstream with the gateway as its decision endpoint and
 * decisions cached: the configuration of docs/routing.md ("nginx (`auth_request`)"), as
 * written there, with this run's ports and a private cache directory.
 */
export function startNginxAuth(env: Env, gatewayPort: number, upstreamPort: number): Promise<Service> {
  const doc = readFileSync(join(env.root, 'docs/routing.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### nginx (`auth_request`)'));
  const block = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/routing.md: no nginx block under "### nginx (`auth_request`)"');
  const cache = join(env.dir, 'nginx-auth', 'decisions');
  mkdirSync(cache, { recursive: true });
  // The worker (nobody, when the master runs as root) must reach and write it.
  chmodSync(env.dir, 0o711);
  chmodSync(join(env.dir, 'nginx-auth'), 0o711);
  chmodSync(cache, 0o777);
  return startNginxWith(env, 'nginx-auth', (port) => {
    const http = block
      .replace('server 127.0.0.1:9031;', `server 127.0.0.1:${gatewayPort};`)
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstreamPort};`)
      .replace('proxy_cache_path /run/nginx/ropc-decisions ', `proxy_cache_path ${cache} `)
      .replace(/listen 443 ssl;\n\s*# ssl_certificate[^\n]*\n/, `listen 127.0.0.1:${port};\n`);
    if (!http.includes(`127.0.0.1:${port}`) || http.includes(':9031') || http.includes(':8080') || !http.includes(cache))
      throw new Error('docs/routing.md: the nginx example changed shape; update startNginxAuth()');
    return http;
  });
}

/** One nginx worker on the server CPU, no access log, the given `http {}` contents. */
async function startNginxWith(env: Env, name: string, http: (port: number) => string): Promise<Service> {
  const port = await freePort();
  const dir = join(env.dir, name);
  for (const sub of ['', 'logs', 'body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(dir, sub), { recursive: true });
    chmodSync(join(dir, sub), 0o777);
  }
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
${http(port)}
}
`,
  );
  const child = spawnChild(name, 'nginx', ['-p', dir, '-c', conf], { cpu: SERVER_CPU, logFile: join(env.dir, `${name}.log`) });
  await waitForPort(port, child);
  return service(name, port, [child]);
}

/** What the compiled gateway in dist/ offers: detected, not assumed (other work lands meanwhile). */
export interface GatewayFeatures {
  /** `store.cacheTtlMs` is in the schema. */
  readonly cacheKey: boolean;
  /** The composition root reads it (a local cache is wired on the resource path). */
  readonly cacheWired: boolean;
  /** `tracing.enabled` is in the schema (OpenTelemetry tracing). */
  readonly tracingKey: boolean;
  /** The ldap validator is built by the registry. */
  readonly ldapValidator: boolean;
}

export async function detectFeatures(root: string): Promise<GatewayFeatures> {
  const dist = join(root, 'dist');
  const read = (p: string): string => (existsSync(join(dist, p)) ? readFileSync(join(dist, p), 'utf8') : '');
  const { schema } = (await import(pathToFileURL(join(dist, 'config/schema.js')).href)) as {
    schema: Record<string, Record<string, { format?: unknown }>>;
  };
  const app = read('app.js');
  const registry = read('validators/registry.js');
  return {
    cacheKey: schema['store']?.['cacheTtlMs'] !== undefined,
    cacheWired: /cacheTtlMs/.test(app) || /cacheTtlMs/.test(read('tokens/cache.js')),
    tracingKey: schema['tracing']?.['enabled'] !== undefined,
    ldapValidator:
      existsSync(join(dist, 'validators/ldap.js')) &&
      /LdapValidator/.test(registry) &&
      !/case 'ldap':\s*\/\/[^\n]*\n\s*throw/.test(registry),
  };
}

export interface GatewaySpec {
  readonly name: string;
  readonly cacheTtlMs: number;
  readonly logLevel: string;
  /** Add the LDAP validator and the `bench-ldap` client. */
  readonly ldapUrl?: string;
  /** Another build's entry point (an experiment's patched copy); default bin/ropc-gateway.js. */
  readonly bin?: string;
  /** With tracing.enabled, exporting to this OTLP/HTTP traces URL. */
  readonly tracingEndpoint?: string;
  /** JWT access tokens, signed by a key file generated here (docs/token-formats.md). */
  readonly accessTokenFormat?: 'jwt';
  /** The decision endpoint for nginx, answers cacheable this long at most (decision.cacheSeconds). */
  readonly decisionCacheSeconds?: number;
  /** The LDAP validator's poolSize (default: the validator's own default). */
  readonly ldapPoolSize?: number;
  /** server.workers (default 1). */
  readonly workers?: number;
}

export interface Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientHash: string;
  readonly user: string;
  readonly password: string;
  readonly passwordHash: string;
}

export interface GatewayService extends Service {
  readonly adminUrl: string;
  /** A live access token of the `bench` client (file validator). */
  readonly accessToken: string;
}

/** argon2id hashes for the gateway's client and user, made by the gateway's own CLI. */
export function hashWithCli(root: string, secret: string): string {
  return execFileSync(process.execPath, [join(root, 'bin/ropc-gateway.js'), 'hash-secret'], { input: secret, encoding: 'utf8' }).trim();
}

export async function startGateway(
  env: Env,
  spec: GatewaySpec,
  _features: GatewayFeatures,
  creds: Credentials,
  upstreamUrl: string,
  redisUrl: string,
): Promise<GatewayService> {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = join(env.dir, spec.name);
  mkdirSync(dir, { recursive: true });
  const usersFile = join(dir, 'users.yaml');
  // The same users as the directory's (ldapUsers): the token cases log in as each in turn.
  writeFileSync(
    usersFile,
    stringify({ users: ldapUsers(creds.user).map((username) => ({ username, passwordHash: creds.passwordHash, groups: ['benchers'] })) }),
  );

  // No upstream.engine: the gateway forwards with its one engine (undici), as built.
  const upstream: Record<string, unknown> = { url: upstreamUrl, timeoutMs: 30000 };

  const clients: Record<string, unknown>[] = [
    { id: creds.clientId, secretHash: creds.clientHash, scopes: ['read'], defaultScopes: ['read'], validators: ['local'] },
  ];
  const validators: Record<string, unknown>[] = [{ name: 'local', type: 'file', path: usersFile }];
  if (spec.ldapUrl) {
    clients.push({
      id: `${creds.clientId}-ldap`,
      secretHash: creds.clientHash,
      scopes: ['read'],
      defaultScopes: ['read'],
      validators: ['directory'],
    });
    // Search-then-bind with a pooled service account (the validator's default mode).
    validators.push({
      name: 'directory',
      type: 'ldap',
      urls: [spec.ldapUrl],
      bindDn: LDAP_ADMIN_DN,
      bindPassword: LDAP_ADMIN_PASSWORD,
      userSearchBase: `ou=people,${LDAP_SUFFIX}`,
      userSearchFilter: '(uid={username})',
      subjectAttribute: 'uid',
      attributes: { email: 'mail', name: 'cn' },
      timeoutMs: 5000,
      ...(spec.ldapPoolSize ? { poolSize: spec.ldapPoolSize } : {}),
    });
  }
  const config = {
    server: { host: '127.0.0.1', port, drainSeconds: 0, ...(spec.workers ? { workers: spec.workers } : {}) },
    admin: { host: '127.0.0.1', port: adminPort },
    log: { level: spec.logLevel },
    oauth: {
      accessTokenTtl: 7200,
      refreshTokenTtl: 14400,
      ...(spec.accessTokenFormat ? { accessTokenFormat: spec.accessTokenFormat, signing: { keyFiles: [signingKeyFile(dir)] } } : {}),
    },
    store: { type: 'redis', redis: { url: redisUrl, keyPrefix: `bench-${spec.name}:` }, cacheTtlMs: spec.cacheTtlMs },
    upstream,
    clients,
    validators,
    routes: [{ path: '/**', scopes: ['read'] }],
    ...(spec.tracingEndpoint ? { tracing: { enabled: true, endpoint: spec.tracingEndpoint } } : {}),
    ...(spec.decisionCacheSeconds !== undefined
      ? { decision: { enabled: true, ingress: 'nginx', cacheSeconds: spec.decisionCacheSeconds } }
      : {}),
  };
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, stringify(config));
  const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROPC_')));
  const child = spawnChild(
    spec.name,
    process.execPath,
    [...nodeArgs(spec.name, spec.bin ?? join(env.root, 'bin/ropc-gateway.js'), ['start', '--config', configFile])],
    {
      cpu: SERVER_CPU,
      env: { ...childEnv, NODE_ENV: 'production' },
      logFile: join(env.dir, `${spec.name}.log`),
      pipeLog: true,
      cwd: env.root,
      ...(gatewayLimits.cgroup ? { cgroupProcs: gatewayLimits.cgroup.procs } : {}),
    },
  );
  await waitForPort(port, child, 30_000);
  await waitForPort(adminPort, child, 10_000);
  const url = `http://127.0.0.1:${port}`;
  let accessToken = await passwordGrant(url, creds.clientId, creds);
  if (spec.accessTokenFormat) {
    // A replica checks in Redis the JWTs issued before it saw its revocation feed live (+5 s
    // for clocks, docs/token-formats.md): let it see the feed, then take a token it trusts locally.
    await fetch(`${url}/api/items`, { headers: { authorization: `Bearer ${accessToken}` } }).then((r) => r.arrayBuffer());
    await sleep(6000);
    accessToken = await passwordGrant(url, creds.clientId, creds);
  }
  return { ...service(spec.name, port, [child]), adminUrl: `http://127.0.0.1:${adminPort}`, accessToken };
}

/** An EC P-256 private key (ES256) in `dir`, PKCS#8 PEM. */
function signingKeyFile(dir: string): string {
  const file = join(dir, 'signing-key.pem');
  writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    mode: 0o600,
  });
  return file;
}

export function basic(id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

export function passwordForm(creds: Pick<Credentials, 'user' | 'password'>): string {
  return `grant_type=password&username=${encodeURIComponent(creds.user)}&password=${encodeURIComponent(creds.password)}`;
}

async function passwordGrant(url: string, clientId: string, creds: Credentials): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${url}/as/token.oauth2`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, creds.clientSecret) },
      body: passwordForm(creds),
    });
    const text = await res.text();
    if (res.status === 200) return (JSON.parse(text) as { access_token: string }).access_token;
    // Redis may still be connecting (503): retry a few times.
    if (attempt >= 20 || res.status !== 503) throw new Error(`password grant failed: ${res.status} ${text}`);
    await sleep(250);
  }
}
