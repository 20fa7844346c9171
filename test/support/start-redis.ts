/**
 * A real `redis-server` for tests (docs/architecture.md): a foreground child process on a free private
 * port, with no persistence, in a fresh temp dir. The harness owns the pid, so fault tests can
 * stop, kill, pause and restart it. Never port 6379: a system Redis may live there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisConfig } from '../../src/tokens/redis-connection.js';
import { freePort } from './ports.js';
import { sleep } from './wait-for.js';

/** A running test Redis. */
export interface RedisProcess {
  readonly port: number;
  /** Whether it runs as a one-node Redis Cluster holding every slot. */
  readonly cluster: boolean;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** SIGTERM (after SIGCONT, in case it is paused), wait for exit, remove the temp dir. Never hangs. */
  stop(): Promise<void>;
  /** Starts again on the same port with an empty data set (stops first when running). */
  restart(): Promise<void>;
  /** SIGSTOP: the socket stays open but nothing answers (a hung Redis). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** SIGKILL (a crash) and wait for exit; the temp dir stays until stop(). */
  kill(): Promise<void>;
}

/** A `store.redis` configuration for the test Redis at `url`: single node, no auth, no TLS. */
export function redisStoreConfig(url: string, overrides: Partial<RedisConfig> = {}): RedisConfig {
  return {
    url,
    sentinels: [],
    sentinelName: 'mymaster',
    sentinelPassword: '',
    cluster: [],
    username: '',
    password: '',
    tls: false,
    tlsCaFile: '',
    keyPrefix: 'ropc:',
    commandTimeoutMs: 1000,
    connectTimeoutMs: 2000,
    ...overrides,
  };
}

/** `REDIS_SERVER` overrides the binary; otherwise `redis-server` from PATH. */
const BINARY = process.env['REDIS_SERVER'] ?? 'redis-server';
const START_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;
const ATTEMPTS = 5;

export interface StartRedisOptions {
  /**
   * Run as a one-node Redis Cluster owning all 16384 slots (connect with `cluster: [host:port]`).
   * Redis still refuses commands whose keys are in different slots, so this checks that the
   * store's scripts are Cluster-safe. Default false.
   */
  readonly cluster?: boolean;
}

/** Starts a redis-server on a free port, retrying with another port if the one found is taken. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const server = new RedisServer(await freePort(), options.cluster ?? false);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
    }
  }
  throw new Error(`could not start redis-server after ${ATTEMPTS} attempts`, { cause: lastError });
}

class RedisServer implements RedisProcess {
  readonly url: string;
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  private output = '';
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  constructor(
    readonly port: number,
    readonly cluster: boolean,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.dir ??= mkdtempSync(join(tmpdir(), 'ropc-redis-'));
    this.output = '';
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
    ];
    if (this.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1');
    const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // Keep the tail of the output for error messages; reading also keeps the pipes from filling.
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // A test runner that dies without afterAll must not leave redis-server behind.
    process.once('exit', this.killOnExit);
    await this.waitForPing(child);
    if (this.cluster) await this.takeAllSlots();
  }

  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  async restart(): Promise<void> {
    await this.terminate('SIGTERM');
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        lastError = err;
        await this.terminate('SIGKILL');
        await sleep(200);
      }
    }
    throw new Error(`could not restart redis-server on port ${this.port}`, { cause: lastError });
  }

  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.running()) throw new Error(`redis-server on port ${this.port} is not running`);
    this.child?.kill(signal);
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` (SIGKILL after a timeout) and waits for the exit; a no-op when already gone. */
  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    process.removeListener('exit', this.killOnExit);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    // A stopped (SIGSTOP) process only acts on SIGTERM once continued.
    child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private async takeAllSlots(): Promise<void> {
    const reply = await send(this.port, 'CLUSTER ADDSLOTSRANGE 0 16383', (r) => (r.includes('\r\n') ? r : undefined));
    if (!reply?.startsWith('+OK')) throw new Error(`CLUSTER ADDSLOTSRANGE failed on port ${this.port}: ${reply}`);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const state = await send(this.port, 'CLUSTER INFO', (r) => /cluster_state:(\w+)/.exec(r)?.[1]);
      if (state === 'ok') return;
      await sleep(50);
    }
    throw new Error(`the one-node cluster on port ${this.port} did not reach cluster_state:ok`);
  }

  private async waitForPing(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited on port ${this.port}: ${this.output}`);
      }
      // Compare pids: another test's Redis may have taken the port between freePort() and spawn.
      const pid = await send(this.port, 'INFO server', (r) => /process_id:(\d+)\r\n/.exec(r)?.[1]);
      if (pid === String(child.pid)) return;
      await sleep(50);
    }
    throw new Error(`redis-server did not answer PING on port ${this.port}: ${this.output}`);
  }
}

/**
 * Sends one inline command to the Redis on `port` and resolves with what `answer` finds in the
 * reply so far, or null on an error reply, a connection error or after 500 ms.
 */
function send<T>(port: number, command: string, answer: (reply: string) => T | undefined): Promise<T | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (value: T | null): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(null));
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.startsWith('-')) return done(null);
      const value = answer(reply);
      if (value !== undefined) done(value);
    });
  });
}
