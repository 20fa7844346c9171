/**
 * Calls `onChange` when a file changes, for `reload.watch` (docs/operations.md, "Configuration
 * reload"). The file's FOLDER is watched, so an editor's atomic replace or a Kubernetes
 * ConfigMap's `..data` symlink swap is seen; events are debounced and compared with the stat
 * signature (inode, size, mtime), and a slow poll backs up filesystems without events.
 */
import { stat, watch as watchFolder } from 'node:fs';
import { dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFile(file: string, onChange: () => void, options: { debounceMs?: number; pollMs?: number } = {}): FileWatch {
  let signature: string | undefined;
  let debounce: NodeJS.Timeout | undefined;
  const check = (): void => {
    stat(file, (err, s) => {
      const next = err ? `missing:${err.code ?? ''}` : `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (signature !== undefined && next !== signature && !err) onChange();
      signature = next;
    });
  };
  const schedule = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(check, options.debounceMs ?? 200).unref();
  };
  check();
  const watcher = watchFolder(dirname(file), { persistent: false }, schedule);
  watcher.on('error', () => undefined); // the poll below keeps working
  const poll = setInterval(check, options.pollMs ?? 5000).unref();
  return {
    close() {
      clearTimeout(debounce);
      clearInterval(poll);
      watcher.close();
    },
  };
}
