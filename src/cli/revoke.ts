/**
 * `ropc-gateway revoke --config FILE (--subject USER | --token TOKEN)`: incident response
 * against the configured Redis store, without a running gateway.
 *
 * - `--subject USER` revokes every token family of the subject (the `sub` the gateway issued
 *   tokens to, as introspection shows it — with its validator's `subjectPrefix`, e.g.
 *   `ldap:jdoe`; the unprefixed `jdoe` is another identity).
 * - `--token TOKEN` revokes the whole family of the token — every access and refresh token of
 *   that grant — whether it is an access or a refresh token, current, rotated or expired: the
 *   family id is part of the token. `--token -` reads the token from stdin, so it stays out of
 *   the shell history and the process list.
 *
 * The store publishes each revocation, so every running replica drops it from its cache at
 * once. Exit codes: 0 something was revoked, 1 nothing matched, 2 usage or configuration
 * error, 3 Redis unreachable. Tokens are never printed.
 */
import { loadConfig, ConfigError } from '../config/load.js';
import { createRedisClient, waitForReady } from '../tokens/redis-connection.js';
import { RedisTokenStore } from '../tokens/redis-store.js';
import { parseToken } from '../tokens/token-value.js';
import { StoreUnavailableError } from '../tokens/types.js';

export interface CommandIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly stdin: AsyncIterable<Buffer | string>;
}

const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/** Runs the command; resolves with the exit code. Configuration problems are thrown as ConfigError. */
export async function revokeCommand(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const file = option(args, '--config');
  const subject = option(args, '--subject');
  let token = option(args, '--token');
  if (!file) throw new ConfigError(['--config: a configuration file is required (ropc-gateway revoke --config FILE --subject USER)']);
  if ((subject === undefined) === (token === undefined)) {
    io.stderr.write('revoke: give exactly one of --subject USER or --token TOKEN\n');
    return 2;
  }
  const config = loadConfig({ mode: 'production', file });
  if (config.store.type !== 'redis') {
    io.stderr.write(
      'revoke: store.type is memory: its tokens live inside the one gateway process; restart that process to revoke everything\n',
    );
    return 2;
  }
  if (token === '-') token = (await readAll(io.stdin)).trim();
  const parsed = token === undefined ? undefined : parseToken(token);
  if (token !== undefined && !parsed) {
    io.stderr.write('revoke: that is not a token of this gateway (65 base64url characters)\n');
    return 2;
  }

  const client = createRedisClient(config.store.redis);
  const store = new RedisTokenStore(client, config.store.redis.keyPrefix);
  try {
    await waitForReady(client, config.store.redis.connectTimeoutMs);
    if (parsed) {
      const revoked = await store.revokeFamily(parsed.familyId);
      io.stdout.write(
        revoked
          ? 'revoked the token family: every access and refresh token of that grant\n'
          : 'no live token family matches that token; nothing revoked\n',
      );
      return revoked ? 0 : 1;
    }
    const sub = subject as string;
    const count = await store.revokeSubject(sub);
    io.stdout.write(`revoked ${count} token ${count === 1 ? 'family' : 'families'} of subject ${JSON.stringify(sub)}\n`);
    return count > 0 ? 0 : 1;
  } catch (err) {
    const reason = err instanceof StoreUnavailableError ? err.message : err instanceof Error ? err.message : String(err);
    io.stderr.write(`revoke: cannot reach the Redis store: ${reason}\n`);
    return 3;
  } finally {
    await store.close();
  }
}

/** The value after `name`, or undefined when absent. */
function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : (args[i + 1] ?? '');
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<string> {
  let text = '';
  for await (const chunk of input) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return text;
}
