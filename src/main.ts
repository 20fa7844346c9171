/**
 * The command line: start | start-dev | check-config | hash-secret | config-docs | revoke |
 * lockout status | unlock.
 * Bad configuration prints one line per problem and exits 2, without a stack trace.
 */
import { ConfigError } from './config/load.js';
import { configurationMarkdown } from './config/docs.js';
import { revokeCommand } from './cli/revoke.js';
import { lockoutCommand } from './cli/lockout.js';
import { startCommand } from './cli/start.js';
import { startDevCommand } from './cli/start-dev.js';
import { checkConfigCommand } from './cli/check-config.js';
import { hashSecretCommand } from './cli/hash-secret.js';

const USAGE = `usage: ropc-gateway <command>

  start --config FILE        run the gateway with a configuration file (production mode);
                             SIGHUP reloads clients, validators, routes and header rules from it
  start-dev                  run with embedded dev defaults: memory store, example users, echo upstream
  check-config --config FILE validate a configuration file; prints one line per problem
  hash-secret                read a secret on stdin, print its argon2id hash (for clients[].secretHash)
  config-docs                print the configuration reference (Markdown) generated from the schema
  revoke --config FILE --subject USER | --token TOKEN
                             revoke every token of a user, or the whole family (grant) of one token,
                             in the configured Redis store; --token - reads the token from stdin
  lockout status --config FILE --username NAME
                             show whether a user is locked out (exit 1 when locked)
  unlock --config FILE --username NAME
                             end a user's lockout and forget its failures
`;

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await startCommand(rest);
      case 'start-dev':
        return await startDevCommand();
      case 'check-config':
        return await checkConfigCommand(rest);
      case 'hash-secret':
        return await hashSecretCommand();
      case 'config-docs':
        process.stdout.write(configurationMarkdown());
        return 0;
      case 'revoke':
        return await revokeCommand(rest);
      case 'unlock':
        return await lockoutCommand('unlock', rest);
      case 'lockout':
        if (rest[0] !== 'status') {
          process.stderr.write(`unknown lockout command; use: ropc-gateway lockout status --config FILE --username NAME\n`);
          return 2;
        }
        return await lockoutCommand('status', rest.slice(1));
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `ropc-gateway: invalid configuration (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}):\n`,
      );
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      return 2;
    }
    throw err;
  }
}
