/**
 * Child processes of the benchmark: spawned pinned to a CPU with `taskset` when it exists,
 * output to a log file, tracked so every one of them is stopped on exit (by pid, never by name).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { cpus } from 'node:os';

/** The CPU the load generator runs on, and the one every server shares (docs/performance.md). */
export const LOAD_CPU = 0;
export const SERVER_CPU = 1;

export interface Pinning {
  /** `taskset` is installed and the machine has at least two CPUs. */
  readonly enabled: boolean;
  readonly reason: string;
}

let pinning: Pinning | undefined;

export function detectPinning(): Pinning {
  if (pinning) return pinning;
  if (cpus().length < 2) pinning = { enabled: false, reason: `only ${cpus().length} CPU: load generator and servers share it` };
  else if (!hasCommand('taskset', ['--version']))
    pinning = { enabled: false, reason: 'taskset not found (util-linux): processes are not pinned' };
  else pinning = { enabled: true, reason: `load generator on CPU ${LOAD_CPU}, servers on CPU ${SERVER_CPU} (taskset)` };
  return pinning;
}

export function hasCommand(command: string, args: readonly string[] = ['--version']): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  return r.error === undefined;
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** With `pipeLog`: the `cat` that copies the output to the log file. */
  readonly sinkPid: number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  exited(): boolean;
}

const children = new Set<Child>();
const sinks = new Set<ChildProcess>();

export interface SpawnOptions {
  readonly cpu?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Where stdout and stderr go (appended). */
  readonly logFile: string;
  /**
   * Write the output to a pipe, which a `cat` pinned to the same CPU copies to the log file —
   * as under a container runtime. Without it the process writes the file itself, which makes
   * a per-request log line cost a file-system write in the measured process.
   */
  readonly pipeLog?: boolean;
  /** A cgroup's `cgroup.procs` the process joins before it execs the command (cgroup.ts); the pid stays the command's. */
  readonly cgroupProcs?: string;
}

/** Spawns `command`, pinned to `cpu` when pinning works (taskset execs it: the pid is the command's). */
export function spawnChild(name: string, command: string, args: readonly string[], options: SpawnOptions): Child {
  const pin = options.cpu !== undefined && detectPinning().enabled;
  const [pinned, pinnedArgs] = pin ? ['taskset', ['-c', String(options.cpu), command, ...args]] : [command, [...args]];
  const [cmd, argv] = options.cgroupProcs
    ? ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', options.cgroupProcs, pinned, ...pinnedArgs]]
    : [pinned, pinnedArgs];
  let sink: ChildProcess | undefined;
  let proc: ChildProcess;
  if (options.pipeLog) {
    const [sinkCmd, sinkArgv] = pin
      ? ['taskset', ['-c', String(options.cpu), 'sh', '-c', 'exec cat >> "$0"', options.logFile]]
      : ['sh', ['-c', 'exec cat >> "$0"', options.logFile]];
    sink = spawn(sinkCmd as string, sinkArgv as string[], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pipe = sink.stdin as NonNullable<ChildProcess['stdin']>;
    proc = spawn(cmd as string, argv as string[], {
      stdio: ['ignore', pipe, pipe],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: false,
    });
    // The child holds its own copy of the pipe; cat sees EOF when the child exits.
    pipe.destroy();
    sink.unref();
  } else {
    const fd = openSync(options.logFile, 'a');
    proc = spawn(cmd as string, argv as string[], {
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: false,
    });
    closeSync(fd);
  }
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    logFile: options.logFile,
    sinkPid: sink?.pid,
    exited: () => proc.exitCode !== null || proc.signalCode !== null,
    async stop(graceMs = 5000) {
      children.delete(child);
      const stopSink = (): void => void (sink?.exitCode === null && sink.kill('SIGTERM'));
      if (child.exited()) return stopSink();
      const done = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(timer);
      stopSink();
    },
  };
  proc.on('exit', () => children.delete(child));
  if (sink) sinks.add(sink);
  children.add(child);
  return child;
}

/** Kills every child still running (SIGKILL): for exit paths that cannot wait. */
export function killAll(): void {
  for (const child of children) {
    if (!child.exited()) child.proc.kill('SIGKILL');
  }
  children.clear();
  for (const sink of sinks) if (sink.exitCode === null) sink.kill('SIGKILL');
  sinks.clear();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

/** A port the kernel just handed out on 127.0.0.1, never 6379. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    server.close();
    await once(server, 'close');
    if (typeof address === 'object' && address !== null && address.port !== 6379) return address.port;
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; throws with the log's tail otherwise. */
export async function waitForPort(port: number, child: Child | undefined, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.exited()) throw new Error(`${child.name} exited during start-up:\n${tail(child.logFile)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${child ? ` (${child.name}):\n${tail(child.logFile)}` : ''}`);
}

export function tail(file: string, lines = 20): string {
  if (!existsSync(file)) return '(no log)';
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident set size of a process in bytes (VmRSS), or undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Live child processes of `pid` (nginx's workers), from /proc/PID/task/PID/children. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of a process and of its live descendants (a master process and its workers). */
export function treeCpuSeconds(pid: number): number {
  return cpuSeconds(pid) + childrenOf(pid).reduce((a, child) => a + treeCpuSeconds(child), 0);
}

/** Busy and total jiffies of each CPU (from /proc/stat). */
export function cpuJiffies(): { busy: number; total: number }[] {
  try {
    return readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const v = l.trim().split(/\s+/).slice(1).map(Number);
        const idle = (v[3] ?? 0) + (v[4] ?? 0);
        const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
        return { busy: total - idle, total };
      });
  } catch {
    return [];
  }
}

/** Newest modification time (ms) of the files under `dir` whose names end with `suffix`. */
export function newestMtime(files: readonly string[]): number {
  let newest = 0;
  for (const f of files) {
    try {
      newest = Math.max(newest, statSync(f).mtimeMs);
    } catch {
      // vanished meanwhile
    }
  }
  return newest;
}
