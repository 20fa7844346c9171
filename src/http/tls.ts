/**
 * TLS termination on the public port with certificate reload (issue "Operations").
 *
 * The certificate and key files are re-read when they change — cert-manager renewals and
 * Kubernetes secret updates (an atomic `..data` symlink swap) included: their directories are
 * watched, events are debounced, and a stat poll backs up filesystems without change events
 * (the one file watcher, config/watch-file.ts).
 * A new pair is installed with `server.setSecureContext` only when it loads and the key
 * matches the certificate; otherwise the previous pair keeps serving and a warning is logged
 * (a renewal that writes the certificate before the key is retried when the key changes).
 * Connections already open keep the certificate they negotiated.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import type https from 'node:https';
import { createSecureContext } from 'node:tls';
import { watchFiles } from '../config/watch-file.js';
import type { Logger } from '../observability/logger.js';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TlsWatchOptions {
  /** Quiet time after a change event (default 100 ms). */
  readonly debounceMs?: number;
  /** Stat poll interval (default 5000 ms). */
  readonly pollIntervalMs?: number;
  /** Called with each certificate installed by a reload (the metrics record its expiry). */
  readonly onInstalled?: (cert: Buffer) => void;
}

/** Reads the pair at startup (the loader has already checked that it is readable and matches). */
export function readTlsPair(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/** Describes a certificate for logs: subject, expiry and fingerprint (never the key). */
export function describeCertificate(cert: Buffer): Record<string, string> {
  try {
    const x = new X509Certificate(cert);
    return { subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo, fingerprint256: x.fingerprint256 };
  } catch {
    return {};
  }
}

/** The certificate's notAfter as Unix seconds (the first of a chain: the one served); undefined when it does not parse. */
export function certificateNotAfter(cert: Buffer): number | undefined {
  try {
    const seconds = Date.parse(new X509Certificate(cert).validTo) / 1000;
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

/** Watches the pair (config/watch-file.ts) and reloads it into `server`; returns a stopper. */
export function watchTlsFiles(server: https.Server, files: TlsFiles, logger: Logger, options: TlsWatchOptions = {}): { close(): void } {
  const reload = async (): Promise<void> => {
    try {
      const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
      createSecureContext({ cert, key }); // throws on a mismatched or unreadable pair
      server.setSecureContext({ cert, key });
      options.onInstalled?.(cert);
      logger.info({ certFile: files.certFile, ...describeCertificate(cert) }, 'TLS certificate reloaded');
    } catch (err) {
      logger.warn(
        { certFile: files.certFile, keyFile: files.keyFile, err: { message: (err as Error).message } },
        'TLS certificate not reloaded; keeping the previous one',
      );
    }
  };
  const watch = watchFiles([files.certFile, files.keyFile], reload, {
    debounceMs: options.debounceMs ?? 100,
    pollMs: options.pollIntervalMs ?? 5000,
    onWatchError: (dir, err) => logger.warn({ dir, err: err.message }, 'TLS file watch failed; relying on the stat poll'),
  });
  return {
    close() {
      void watch.close();
    },
  };
}
