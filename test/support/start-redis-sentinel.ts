/**
 * A real Redis Sentinel topology for tests (docs/architecture.md): a master, a replica and one
 * sentinel (`redis-server --sentinel`), each a foreground child process on a free private port
 * (never 6379) under one temp dir, all with passwords. The harness owns the pids, so tests can
 * force a failover (`SENTINEL FAILOVER`) or crash the master (SIGKILL) and watch the sentinel
 * promote the replica.
 *
 * Also exports {@link startRedisNode}, the one-process building block that
 * `start-redis-cluster.ts` uses too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { sleep } from './wait-for.js';

/** `REDIS_SERVER` overrides the binary; otherwise `redis-server` from PATH. */
const BINARY = process.env['REDIS_SERVER'] ?? 'redis-server';
const START_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;
const ATTEMPTS = 5;

/** One running redis-server (or sentinel) process. */
export interface RedisNode {
  readonly port: number;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** Runs one command on a short-lived connection (authenticated when the node has a password). */
  command(...args: (string | number)[]): Promise<unknown>;
  /** SIGTERM (SIGKILL after a timeout) and wait for the exit. Never hangs; a no-op when gone. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(): Promise<void>;
}

export interface RedisNodeOptions {
  /** Folder for the node's files (config, cluster state); the caller removes it. */
  readonly dir: string;
  /** A short name for file names and error messages, e.g. `master`. */
  readonly name: string;
  /**
   * Lines of the node's config file, given the port found for it (`port` and `bind` are added).
   * A file rather than arguments: a sentinel needs one, and rewrites it.
   */
  readonly config: (port: number) => readonly string[];
  /** Run as a sentinel (`--sentinel`). */
  readonly sentinel?: boolean;
  /** `requirepass` of the node, used by {@link RedisNode.command} and the readiness check. */
  readonly password?: string;
}

/** Starts one redis-server on a free port, retrying with another port when the one found is taken. */
export async function startRedisNode(options: RedisNodeOptions): Promise<RedisNode> {
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const node = new NodeProcess(await freePort(), options);
    try {
      await node.start();
      return node;
    } catch (err) {
      lastError = err;
      await node.stop();
    }
  }
  throw new Error(`could not start redis-server (${options.name}) after ${ATTEMPTS} attempts`, { cause: lastError });
}

class NodeProcess implements RedisNode {
  private child: ChildProcess | undefined;
  private output = '';
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  constructor(
    readonly port: number,
    private readonly options: RedisNodeOptions,
  ) {}

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async start(): Promise<void> {
    const { dir, name } = this.options;
    const file = join(dir, `${name}-${this.port}.conf`);
    const lines = [`port ${this.port}`, 'bind 127.0.0.1', `dir ${dir}`, ...this.options.config(this.port)];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const args = [file, '--daemonize', 'no', ...(this.options.sentinel ? ['--sentinel'] : [])];
    const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // A test runner that dies without afterAll must not leave redis-server behind.
    process.once('exit', this.killOnExit);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`redis-server (${name}) exited on port ${this.port}: ${this.output}`);
      // Compare pids: another test's process may have taken the port between freePort() and spawn.
      const info = await this.command('INFO', 'server').catch(() => '');
      if (typeof info === 'string' && new RegExp(`process_id:${child.pid}\\r\\n`).test(info)) return;
      await sleep(50);
    }
    throw new Error(`redis-server (${name}) did not answer on port ${this.port}: ${this.output}`);
  }

  async command(...args: (string | number)[]): Promise<unknown> {
    const client = new Redis({
      host: '127.0.0.1',
      port: this.port,
      ...(this.options.password ? { password: this.options.password } : {}),
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      commandTimeout: 2000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const [command, ...rest] = args;
      return await client.call(String(command), ...rest);
    } finally {
      client.disconnect();
    }
  }

  stop(): Promise<void> {
    return this.terminate('SIGTERM');
  }

  kill(): Promise<void> {
    return this.terminate('SIGKILL');
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    process.removeListener('exit', this.killOnExit);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The Sentinel topology of {@link startRedisSentinel}. */
export interface RedisSentinel {
  /** Name of the monitored master (`store.redis.sentinelName`). */
  readonly masterName: string;
  /** `requirepass` of the master and the replica (`store.redis.password`). */
  readonly password: string;
  /** `requirepass` of the sentinel (`store.redis.sentinelPassword`). */
  readonly sentinelPassword: string;
  /** The data nodes in start order: `[0]` starts as master, `[1]` as its replica. */
  readonly nodes: readonly RedisNode[];
  readonly sentinel: RedisNode;
  /** `host:port` of the sentinel (`store.redis.sentinels`). */
  readonly sentinelAddress: string;
  /** The port the sentinel currently names as master. */
  masterPort(): Promise<number>;
  /**
   * Waits for a healthy replica, then until every write the master had accepted is acknowledged
   * by it (a write of its own, then `WAIT 1`): replication is asynchronous, and a failover loses what has not
   * reached the replica yet.
   */
  waitForReplication(): Promise<void>;
  /** Waits until the sentinel knows the replica as a healthy one it could promote. */
  waitForHealthyReplica(): Promise<void>;
  /** `SENTINEL FAILOVER`: promotes the replica, demotes the old master; resolves with the new master's port. */
  failover(): Promise<number>;
  /** SIGKILLs the current master and waits until the sentinel has promoted the replica; resolves with its port. */
  crashMaster(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a master, a replica of it and one sentinel (quorum 1, master declared down after
 * 1 s without answers), all with passwords, and waits until the sentinel knows the replica.
 */
export async function startRedisSentinel(): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-sentinel-'));
  const password = 'data-pw';
  const sentinelPassword = 'sentinel-pw';
  const masterName = 'mymaster';
  const started: RedisNode[] = [];
  try {
    const dataConfig = (extra: readonly string[]) => (): readonly string[] => [
      'save ""',
      'appendonly no',
      `requirepass ${password}`,
      // The master turns replica after a failover and then needs the password too.
      `masterauth ${password}`,
      'replica-announce-ip 127.0.0.1',
      // A (re)joining replica syncs at once instead of after the default 5 s.
      'repl-diskless-sync-delay 0',
      ...extra,
    ];
    const master = await startRedisNode({ dir, name: 'master', password, config: dataConfig([]) });
    started.push(master);
    const replica = await startRedisNode({ dir, name: 'replica', password, config: dataConfig([`replicaof 127.0.0.1 ${master.port}`]) });
    started.push(replica);
    const sentinel = await startRedisNode({
      dir,
      name: 'sentinel',
      sentinel: true,
      password: sentinelPassword,
      config: () => [
        `requirepass ${sentinelPassword}`,
        'sentinel announce-ip 127.0.0.1',
        `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
        `sentinel auth-pass ${masterName} ${password}`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 10000`,
        `sentinel parallel-syncs ${masterName} 1`,
      ],
    });
    started.push(sentinel);
    const topology = new SentinelTopology(dir, masterName, password, sentinelPassword, [master, replica], sentinel);
    await topology.waitForHealthyReplica();
    return topology;
  } catch (err) {
    await Promise.all(started.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

class SentinelTopology implements RedisSentinel {
  readonly sentinelAddress: string;

  constructor(
    private readonly dir: string,
    readonly masterName: string,
    readonly password: string,
    readonly sentinelPassword: string,
    readonly nodes: readonly RedisNode[],
    readonly sentinel: RedisNode,
  ) {
    this.sentinelAddress = `127.0.0.1:${sentinel.port}`;
  }

  async masterPort(): Promise<number> {
    const reply = (await this.sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName)) as [string, string] | null;
    if (!reply) throw new Error(`the sentinel knows no master named ${this.masterName}`);
    return Number(reply[1]);
  }

  private nodeAt(port: number): RedisNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of the topology listens on ${port}`);
    return node;
  }

  async waitForReplication(): Promise<void> {
    await this.waitForHealthyReplica();
    const master = this.nodeAt(await this.masterPort());
    const client = new Redis({
      host: '127.0.0.1',
      port: master.port,
      password: this.password,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      // The replication stream is ordered: once this write is acknowledged, every earlier one is.
      await client.set('test:replication-barrier', String(Date.now()));
      const acked = await client.wait(1, 5000);
      if (acked < 1) throw new Error('the replica did not acknowledge the writes within 5 s');
    } finally {
      client.disconnect();
    }
  }

  async waitForHealthyReplica(): Promise<void> {
    await poll(
      'a replica in sync that the sentinel knows as healthy',
      async () => {
        // The master's own view first: the sentinel's lags (it polls INFO every 10 s), and after a
        // failover the old master stays a master until the sentinel demotes it. Do at once what
        // the sentinel would do some seconds later.
        const masterPort = await this.masterPort();
        for (const node of this.nodes) {
          if (node.port === masterPort || !node.running) continue;
          const role = await node.command('INFO', 'replication');
          if (typeof role === 'string' && /^role:master\r?$/m.test(role)) await node.command('REPLICAOF', '127.0.0.1', masterPort);
        }
        const master = this.nodeAt(masterPort);
        const info = await master.command('INFO', 'replication');
        if (typeof info !== 'string' || !/^role:master\r?$/m.test(info) || !/^slave\d+:.*state=online/m.test(info)) return false;
        const replicas = (await this.sentinel.command('SENTINEL', 'REPLICAS', this.masterName)) as string[][];
        return replicas.some((fields) => {
          const f = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
          return f.get('flags') === 'slave' && f.get('master-link-status') === 'ok';
        });
      },
      30_000,
    );
  }

  async failover(): Promise<number> {
    const before = await this.masterPort();
    await this.waitForHealthyReplica();
    await this.sentinel.command('SENTINEL', 'FAILOVER', this.masterName);
    return this.waitForNewMaster(before);
  }

  async crashMaster(): Promise<number> {
    const before = await this.masterPort();
    await this.waitForHealthyReplica();
    await this.nodeAt(before).kill();
    return this.waitForNewMaster(before);
  }

  /** Waits until the sentinel names another master and that node answers as one. */
  private async waitForNewMaster(before: number): Promise<number> {
    let port = before;
    await poll('the sentinel to promote the replica', async () => {
      port = await this.masterPort();
      if (port === before) return false;
      const info = await this.nodeAt(port).command('INFO', 'replication');
      return typeof info === 'string' && info.includes('role:master');
    });
    return port;
  }

  async stop(): Promise<void> {
    await Promise.all([this.sentinel, ...this.nodes].map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` every 100 ms until it returns true; errors count as false. Throws after 20 s. */
export async function poll(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await sleep(100);
  }
}
