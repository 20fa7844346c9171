/**
 * The one file watcher: `reload.watch` of the configuration file (docs/operations.md,
 * "Configuration reload"), the TLS certificate and key (http/tls.ts) and the users file of a
 * `file` validator (validators/file.ts).
 *
 * Each file's FOLDER is watched, so an editor's atomic replace or a Kubernetes ConfigMap's
 * `..data` symlink swap is seen; events are debounced and compared with the files' stat
 * signature (inode, size, mtime, ctime), and a slow stat poll backs up filesystems without
 * events. Checks run one at a time (a change during a reload queues one more comparison), and
 * `onChange` runs only when the signature differs from the last one seen.
 */
import { watch as watchFolder, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileWatch {
  /** Stops watching; resolves when a check under way has finished. Safe to call twice. */
  close(): Promise<void>;
}

export interface FileWatchOptions {
  /** Quiet time after the last change event before the files are compared (default 100 ms). */
  readonly debounceMs?: number;
  /** Stat poll interval for filesystems without change events; 0 turns it off (default 5000 ms). */
  readonly pollMs?: number;
  /**
   * The signature ({@link filesSignature}) the caller read the files at: the watch compares
   * with it at once, so a change between that read and the start of the watch is seen.
   * Without it, the first comparison only records the signature.
   */
  readonly signature?: string;
  /** A folder that cannot be watched (the poll keeps working); default: ignored. */
  readonly onWatchError?: (dir: string, err: Error) => void;
}

/** What changed: the new signature, and the first file's stat error when one is missing (or not a regular file). */
export interface FileChange {
  readonly signature: string;
  readonly missing: NodeJS.ErrnoException | undefined;
}

/**
 * The stat signature of `files` (joined by `|`), with the first stat error: a missing file, or
 * one not a regular file (`ENOTFILE`), reads `missing:CODE`.
 */
export async function filesSignature(files: readonly string[]): Promise<FileChange> {
  const states = await Promise.all(files.map(fileSignature));
  return { signature: states.map((s) => s.signature).join('|'), missing: states.find((s) => s.missing)?.missing };
}

async function fileSignature(file: string): Promise<FileChange> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
    return { signature: `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`, missing: undefined };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { signature: `missing:${e.code ?? 'error'}`, missing: e };
  }
}

/** Calls `onChange` (never twice at once) each time the signature of `files` changes. */
export function watchFiles(
  files: readonly string[],
  onChange: (change: FileChange) => void | Promise<void>,
  options: FileWatchOptions = {},
): FileWatch {
  let signature = options.signature;
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let checks: Promise<void> = Promise.resolve();
  let queued = false;

  const compare = async (): Promise<void> => {
    if (closed) return;
    const next = await filesSignature(files);
    if (next.signature === signature) return;
    const first = signature === undefined;
    signature = next.signature;
    if (first || closed) return;
    await onChange(next);
  };
  const enqueue = (): void => {
    if (closed || queued) return;
    queued = true;
    checks = checks
      .then(() => {
        queued = false;
        return compare();
      })
      .catch(() => undefined); // onChange reports its own failures; the watch goes on
  };
  const schedule = (): void => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(enqueue, options.debounceMs ?? 100).unref();
  };

  enqueue();
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watchFolder(dir, { persistent: false }, schedule);
      w.on('error', (err) => options.onWatchError?.(dir, err));
      watchers.push(w);
    } catch (err) {
      options.onWatchError?.(dir, err as Error);
    }
  }
  const pollMs = options.pollMs ?? 5000;
  const poll = pollMs > 0 ? setInterval(enqueue, pollMs).unref() : undefined;
  return {
    close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      for (const w of watchers) w.close();
      return checks;
    },
  };
}

/** Calls `onChange` when the configuration file changes to one that can be read (`reload.watch`). */
export function watchFile(file: string, onChange: () => void, options: { debounceMs?: number; pollMs?: number } = {}): FileWatch {
  return watchFiles([file], (change) => (change.missing ? undefined : onChange()), {
    debounceMs: options.debounceMs ?? 200,
    pollMs: options.pollMs ?? 5000,
  });
}
