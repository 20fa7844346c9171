/**
 * Starts a real gateway in the test process on ephemeral ports, from a real configuration
 * file written to a temp dir, with its log lines captured for inspection.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { hashSecret } from '../../src/security/password-hash.js';
import type { Clock } from '../../src/clock.js';
import { waitFor } from './wait-for.js';

export const CLIENT = { id: 'app', secret: 'app-secret' } as const;
export const USERS = {
  joe: { username: 'joe', password: 'joe-pw', groups: ['editors'] },
  alice: { username: 'alice', password: 'p&ss=w+rd%ü', groups: ['admins', 'editors'] },
} as const;

let hashes: Promise<{ client: string; joe: string; alice: string }> | undefined;
function testHashes() {
  hashes ??= Promise.all([hashSecret(CLIENT.secret), hashSecret(USERS.joe.password), hashSecret(USERS.alice.password)]).then(
    ([client, joe, alice]) => ({
      client,
      joe,
      alice,
    }),
  );
  return hashes;
}

export interface TestGateway {
  readonly url: string;
  readonly adminUrl: string;
  /** The token endpoint's URL (`oauth.paths.token`). */
  readonly tokenUrl: string;
  /** The revocation endpoint's URL (`oauth.paths.revocation`). */
  readonly revocationUrl: string;
  readonly gateway: Gateway;
  readonly dir: string;
  /** Log lines written so far, parsed. */
  logs(): Record<string, unknown>[];
  /** Raw log text written so far. */
  logText(): string;
  /** Rewrites the users file (the file validator reloads it). */
  writeUsers(users: readonly { username: string; passwordHash: string; groups?: readonly string[] }[]): void;
  /** Rewrites the users file and resolves once the file validator has logged the reload (log.level info or lower). */
  reloadUsers(users: readonly { username: string; passwordHash: string; groups?: readonly string[] }[]): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /** Deep-merged over the base configuration. */
  readonly config?: Record<string, unknown>;
  readonly upstream: string;
  readonly redisUrl?: string;
  /** The gateway's in-process time source (src/app.ts `clock`): a TestClock lets a test move time. */
  readonly clock?: Clock;
}

export function basicAuth(id: string = CLIENT.id, secret: string = CLIENT.secret): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

export async function startGateway(options: GatewayOptions): Promise<TestGateway> {
  const h = await testHashes();
  const dir = mkdtempSync(join(tmpdir(), 'ropc-gw-'));
  const usersFile = join(dir, 'users.yaml');
  const writeUsers: TestGateway['writeUsers'] = (users) => writeFileSync(usersFile, stringify({ users }));
  writeUsers([
    { username: 'joe', passwordHash: h.joe, groups: [...USERS.joe.groups] },
    { username: 'alice', passwordHash: h.alice, groups: [...USERS.alice.groups] },
  ]);
  const base: Record<string, unknown> = {
    server: { host: '127.0.0.1', port: 0, drainSeconds: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level: 'debug' },
    store: options.redisUrl
      ? {
          type: 'redis',
          redis: { url: options.redisUrl, keyPrefix: `t${Date.now()}${Math.random().toString(36).slice(2, 6)}:`, commandTimeoutMs: 500 },
        }
      : { type: 'memory' },
    upstream: { url: options.upstream, timeoutMs: 2000 },
    clients: [
      { id: CLIENT.id, secretHash: h.client, scopes: ['read', 'edit', 'admin'], defaultScopes: ['read'] },
      { id: 'other', secretHash: h.client, scopes: ['read'], defaultScopes: ['read'] },
      { id: 'spa', public: true, scopes: ['read'], defaultScopes: ['read'] },
      { id: 'pw-only', secretHash: h.client, grantTypes: ['password'], scopes: ['read'] },
    ],
    validators: [{ name: 'local', type: 'file', path: usersFile }],
  };
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(merge(base, options.config ?? {})));
  const config = loadConfig({ mode: 'production', file, env: {} });

  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  // Audit events on stdout land in the same capture, so the log tests search them too.
  const gateway = await createGateway(config, createLogger(config.log.level, sink), {
    stdout: sink,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { port, adminPort } = await gateway.listen();
  return {
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    tokenUrl: `http://127.0.0.1:${port}${config.oauth.paths.token}`,
    revocationUrl: `http://127.0.0.1:${port}${config.oauth.paths.revocation}`,
    gateway,
    dir,
    logs: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    logText: () => text,
    writeUsers,
    async reloadUsers(users) {
      if (!['trace', 'debug', 'info'].includes(config.log.level))
        throw new Error('reloadUsers watches the info log line of the reload: log.level must be info or lower');
      const reloads = (): number => text.split('\n').filter((l) => l.includes('"users file reloaded"')).length;
      const before = reloads();
      writeUsers(users);
      await waitFor(() => reloads() > before, 10_000, 'the users file to be reloaded');
    },
    async stop() {
      await gateway.shutdown(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? merge(prev, v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** POSTs a form to the token endpoint (or another OAuth path). */
export async function postForm(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON; tests that care assert on text
  }
  return { status: res.status, headers: res.headers, text, json };
}
