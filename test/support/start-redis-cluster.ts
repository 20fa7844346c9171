/**
 * A real three-master Redis Cluster for tests (docs/architecture.md): three `redis-server
 * --cluster-enabled yes` processes on free private ports (never 6379; the cluster bus on ports
 * of its own), joined by `redis-cli --cluster create … --cluster-yes`, so the 16384 slots are
 * spread over three processes and a key's slot decides which one holds it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { poll, startRedisNode, type RedisNode } from './start-redis-sentinel.js';
import { freePort } from './ports.js';

/** `REDIS_CLI` overrides the binary; otherwise `redis-cli` from PATH. */
const CLI = process.env['REDIS_CLI'] ?? 'redis-cli';
const MASTERS = 3;

export interface RedisCluster {
  readonly nodes: readonly RedisNode[];
  /** `host:port` of every master (`store.redis.cluster`). */
  readonly seeds: readonly string[];
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ropc-cluster-'));
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < MASTERS; i++) {
      // The bus port defaults to port + 10000, which may be taken (or past 65535): choose one.
      const busPort = await freePort();
      nodes.push(
        await startRedisNode({
          dir,
          name: `node${i}`,
          config: (port) => [
            'save ""',
            'appendonly no',
            'cluster-enabled yes',
            `cluster-config-file nodes-${port}.conf`,
            `cluster-port ${busPort}`,
            'cluster-node-timeout 5000',
            'cluster-announce-ip 127.0.0.1',
          ],
        }),
      );
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    await promisify(execFile)(CLI, ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // `--cluster create` returns once the nodes agree on the configuration; wait until each one
    // serves all slots too.
    await poll('every cluster node to report cluster_state:ok', async () => {
      const infos = await Promise.all(nodes.map((n) => n.command('CLUSTER', 'INFO')));
      return infos.every(
        (info) => typeof info === 'string' && info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384'),
      );
    });
    return {
      nodes,
      seeds,
      async stop() {
        await Promise.all(nodes.map((n) => n.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
