/**
 * The reference for the LDAP password grant (docs/performance.md): a minimal token server doing, per
 * request, exactly one LDAP simple bind as the user (on a pooled connection) and one Redis
 * SETEX of a random token, nothing else — no client authentication, no lockout, no logging.
 * Usage: node ldap-setex.js PORT LDAP_URL REDIS_PORT DN_TEMPLATE [POOL_SIZE]
 * (DN_TEMPLATE holds `{username}`, e.g. uid={username},ou=people,dc=example,dc=org)
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Client } from 'ldapts';
import { Redis } from 'ioredis';

const [, , portArg, ldapUrl = '', redisPort = '', dnTemplate = '', poolArg = '4'] = process.argv;
const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort), enableOfflineQueue: true });

/** A fixed set of connections, each used by one bind at a time (a bind changes its identity). */
const idle: Client[] = Array.from({ length: Number(poolArg) }, () => new Client({ url: ldapUrl, timeout: 5000, connectTimeout: 5000 }));
const waiting: ((c: Client) => void)[] = [];
const acquire = (): Promise<Client> => {
  const c = idle.pop();
  return c ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
};
const release = (c: Client): void => {
  const next = waiting.shift();
  if (next) next(c);
  else idle.push(c);
};

async function issue(username: string, password: string): Promise<string | null> {
  const client = await acquire();
  try {
    await client.bind(dnTemplate.replace('{username}', username), password);
  } catch {
    return null;
  } finally {
    release(client);
  }
  const token = randomBytes(32).toString('base64url');
  await redis.setex(`ref:at:${token}`, 3600, JSON.stringify({ sub: username }));
  return token;
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    issue(form.get('username') ?? '', form.get('password') ?? '').then(
      (token) => {
        const body = token ? JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }) : '{"error":"invalid_grant"}';
        res.writeHead(token ? 200 : 400, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"temporarily_unavailable"}');
      },
    );
  });
});
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
