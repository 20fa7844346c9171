/**
 * The CLI as an operator runs it: the real bin/ropc-gateway.js in a child process. Needs
 * `npm run build` (bin/ropc-gateway.js runs dist/); check-config's full matrix is in
 * config-validation.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function file(content: string, name = 'gateway.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-cli-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('the CLI', () => {
  it('check-config prints one line per problem and exits 2 without a stack trace', () => {
    const path = file('server: { port: 99999 }\n');
    const run = spawnSync(process.execPath, ['bin/ropc-gateway.js', 'check-config', '--config', path], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('server.port: must be a port number (0-65535): value was 99999\n');
    expect(run.stderr).not.toMatch(/\bat .+\.js:\d+/);
  });

  it('hash-secret prints an argon2id hash of stdin', () => {
    const out = execFileSync(process.execPath, ['bin/ropc-gateway.js', 'hash-secret'], { input: 's3cret\n', encoding: 'utf8' });
    expect(out).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
  });
});
