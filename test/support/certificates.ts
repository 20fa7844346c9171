/** Self-signed certificates made at test time with the real openssl (EC P-256: fast to generate). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * A self-signed certificate for `cn` with subjectAltName DNS:localhost and IP:127.0.0.1,
 * valid for `days` (1), written to `dir` (a new temp dir by default) as `<name>.crt` / `<name>.key`.
 */
export function makeCertificate(options: { cn?: string; dir?: string; name?: string; days?: number } = {}): Certificate {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ropc-cert-'));
  const name = options.name ?? 'server';
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      String(options.days ?? 1),
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      `/CN=${options.cn ?? 'localhost'}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
