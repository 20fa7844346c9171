/**
 * How many worker processes `server.workers: auto` means (docs/deployment.md, "Workers"): the
 * CPUs this process may run on (`os.availableParallelism()`, which follows the affinity mask),
 * capped by the container's CPU limit — the cgroup v2 `cpu.max` quota, or cgroup v1's
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us` — rounded down, and at least 1. A pod limited to
 * 1.5 CPUs gets 1 worker; a 500m sidecar gets 1.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export function resolveWorkers(setting: number | 'auto', root = '/sys/fs/cgroup'): number {
  if (setting !== 'auto') return setting;
  const quota = cgroupCpuLimit(root);
  const cpus = availableParallelism();
  return Math.max(1, Math.floor(quota === undefined ? cpus : Math.min(cpus, quota)));
}

/** The CPU limit in CPUs (quota / period), or undefined when there is none or it cannot be read. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup'): number | undefined {
  // cgroup v2: "max 100000" (no limit) or "150000 100000".
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return ratio(quota, period);
  }
  // cgroup v1: -1 is no limit.
  return ratio(
    read(`${root}/cpu/cpu.cfs_quota_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_quota_us`),
    read(`${root}/cpu/cpu.cfs_period_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_period_us`),
  );
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
