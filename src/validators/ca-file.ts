/**
 * `tlsCaFile` of the LDAP and HTTP validators: read once when the settings are examined, and
 * refused with one problem line when it cannot be read or holds no PEM certificate.
 */
import { readFileSync } from 'node:fs';

/** The CA bundle at `path`, or undefined after pushing a `tlsCaFile: …` problem. */
export function readCaFile(path: string, problems: string[]): Buffer | undefined {
  try {
    const ca = readFileSync(path);
    if (ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) return ca;
    problems.push(`tlsCaFile: ${path} holds no PEM certificate`);
    return ca;
  } catch (err) {
    problems.push(`tlsCaFile: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}
