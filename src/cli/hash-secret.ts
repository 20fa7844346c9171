/** `ropc-gateway hash-secret`: a secret on stdin → its argon2id hash (for clients[].secretHash and users files). */
import { hashSecret } from '../security/password-hash.js';

export async function hashSecretCommand(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!secret) {
    process.stderr.write('hash-secret: give the secret on stdin, e.g. `printf %s "$SECRET" | ropc-gateway hash-secret`\n');
    return 2;
  }
  process.stdout.write(`${await hashSecret(secret)}\n`);
  return 0;
}
