/**
 * The interoperability tier (docs/client-libraries.md): real OAuth2 client libraries against a
 * real gateway with a real echo upstream. Every library uses the same two clients, chosen so
 * that getting RFC 6749 §2.3.1 form-encoding wrong shows: a confidential client whose id holds
 * a colon and whose secret holds `+`, `/` and `=`, and a public client.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hashSecret } from '../../src/security/password-hash.js';
import { startEchoUpstream, type Upstream } from '../support/echo-upstream.js';
import { freePort } from '../support/ports.js';
import { startGateway, USERS, type TestGateway } from '../support/start-gateway.js';

export const CONFIDENTIAL = { id: 'my:client', secret: 'ab+cd/ef==' } as const;
export const PUBLIC = { id: 'public_app' } as const;
/** A user whose password needs form-encoding in the body too. */
export const USER = USERS.alice;

export interface InteropGateway {
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly revocationUrl: string;
  readonly introspectionUrl: string;
  readonly metadataUrl: string;
  /** A protected path on the proxy; the echo upstream answers what it received. */
  readonly resourceUrl: string;
  readonly gateway: TestGateway;
  stop(): Promise<void>;
}

export async function startInteropGateway(): Promise<InteropGateway> {
  const upstream: Upstream = await startEchoUpstream();
  // Discovery clients compare the issuer with the URL they fetched (RFC 8414 §3.3), so it is
  // the listener's real address: a port picked first (free a moment ago).
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const gateway = await startGateway({
    upstream: upstream.url,
    config: {
      server: { port },
      oauth: { issuer },
      clients: [
        { id: CONFIDENTIAL.id, secretHash: await hashSecret(CONFIDENTIAL.secret), scopes: ['read', 'edit'], defaultScopes: ['read'] },
        { id: PUBLIC.id, public: true, scopes: ['read'], defaultScopes: ['read'] },
      ],
    },
  });
  return {
    issuer,
    tokenUrl: `${issuer}/as/token.oauth2`,
    revocationUrl: `${issuer}/as/revoke_token.oauth2`,
    introspectionUrl: `${issuer}/as/introspect.oauth2`,
    metadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
    resourceUrl: `${issuer}/api/hello`,
    gateway,
    async stop() {
      await gateway.stop();
      await upstream.close();
    },
  };
}

/** What the echo upstream saw of the gateway's identity headers. */
export function identityOf(echo: unknown): { subject: unknown; clientId: unknown } {
  const headers = (echo as { headers?: Record<string, unknown> }).headers ?? {};
  return { subject: headers['x-auth-subject'], clientId: headers['x-auth-client-id'] };
}

/** The environment the Python and Go drivers read (test/interop/clients/). */
export function driverEnv(gw: InteropGateway): Record<string, string> {
  return {
    ISSUER: gw.issuer,
    TOKEN_URL: gw.tokenUrl,
    REVOCATION_URL: gw.revocationUrl,
    INTROSPECTION_URL: gw.introspectionUrl,
    METADATA_URL: gw.metadataUrl,
    RESOURCE_URL: gw.resourceUrl,
    CLIENT_ID: CONFIDENTIAL.id,
    CLIENT_SECRET: CONFIDENTIAL.secret,
    PUBLIC_CLIENT_ID: PUBLIC.id,
    USERNAME: USER.username,
    PASSWORD: USER.password,
  };
}

/**
 * Runs a driver program and parses the one JSON object it prints: what each step observed.
 * A missing interpreter fails the test loudly — .ci/run installs the Debian packages.
 */
export async function runDriver(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Record<string, unknown>> {
  if (!existsSync(command)) throw new Error(`${command} is missing: run .ci/run (it installs the interop Debian packages)`);
  const child = spawn(command, args, {
    env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${err}\n${out}`);
  try {
    return JSON.parse(out) as Record<string, unknown>;
  } catch {
    throw new Error(`${command} printed no JSON:\n${out}\n${err}`);
  }
}
