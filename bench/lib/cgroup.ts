/**
 * A memory cgroup for the gateways (`--memory-limit MB`): what a container's limit does to a
 * gateway — the kernel's limit, and Node sizing V8's heap from it (libuv reads the cgroup's
 * limit at start-up) — without a container runtime. A process joins it by writing its pid to
 * `cgroup.procs` before it execs node (proc.ts), so only the gateways are in it.
 * cgroup v2 (`/sys/fs/cgroup` with the memory controller) or v1 (`/sys/fs/cgroup/memory`);
 * needs root.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  /** The file a process writes its pid to, to join. */
  readonly procs: string;
  readonly limitMb: number;
  /** Whether the kernel killed a process of it for memory (v2 `memory.events` oom_kill, v1 `memory.oom_control`). */
  oomKills(): number;
  remove(): void;
}

export function createMemoryCgroup(limitMb: number): MemoryCgroup {
  const bytes = String(limitMb * 2 ** 20);
  const name = `ropc-bench-${process.pid}`;
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  let dir: string;
  let events: () => number;
  if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
    dir = join(v2, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.max'), bytes);
    writeFileSync(join(dir, 'memory.swap.max'), '0');
    events = () => Number(/oom_kill (\d+)/.exec(readFileSync(join(dir, 'memory.events'), 'utf8'))?.[1] ?? 0);
  } else if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
    dir = join(v1, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), bytes);
    events = () => Number(/oom_kill (\d+)/.exec(readFileSync(join(dir, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);
  } else {
    throw new Error('--memory-limit: no memory cgroup controller under /sys/fs/cgroup (cgroup v2 or v1) on this machine');
  }
  return {
    procs: join(dir, 'cgroup.procs'),
    limitMb,
    oomKills: () => {
      try {
        return events();
      } catch {
        return 0;
      }
    },
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // Still has processes (they are being stopped): the kernel keeps it until they are gone.
      }
    },
  };
}
