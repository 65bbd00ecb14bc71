/**
 * Holds a process to a Lambda function's share of a CPU, through the cgroup v1
 * `cpu` controller (a CFS quota), so that a handler measured on a laptop runs
 * as fast as it would in a function of a given memory size.
 *
 * Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU, so
 * a 256 MB function gets 256 / 1,769 of one (14.5 ms of CPU time in every
 * 100 ms). Only the handler's process belongs in the group: the local servers
 * it talks to stand for AWS, which does not share the function's CPU.
 *
 * Creating a cgroup needs write access to /sys/fs/cgroup/cpu (root, or a
 * delegated hierarchy). Where that is missing, `CpuLimit.create` returns the
 * reason instead, and the caller measures with unlimited CPU and says so.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'fs';
import * as path from 'path';

/** Memory at which a Lambda function has one full vCPU. */
export const LAMBDA_MB_PER_VCPU = 1_769;

/** Where the cgroup v1 `cpu` controller is mounted on Linux. */
export const CPU_CGROUP_ROOT = '/sys/fs/cgroup/cpu';

/** The CFS period used, in microseconds: the kernel's default. */
export const CFS_PERIOD_US = 100_000;

/** A process's weight in the `cpu` controller when nothing is said (cpu.shares). */
export const DEFAULT_CPU_SHARES = 1_024;

export interface CpuLimitOptions {
  /** Share of one CPU the group may use at most (a CFS quota); none for no cap. */
  readonly share?: number;
  /**
   * Weight of the group against the machine's other processes (cpu.shares,
   * 1,024 each by default). A higher weight lets the group have its share
   * while the machine is busy, as a Lambda function has its share whatever
   * else runs on the host. Default 1,024.
   */
  readonly weight?: number;
}

/** The share of one vCPU a Lambda function of `memoryMb` gets (1 from 1,769 MB on). */
export function lambdaCpuShare(memoryMb: number): number {
  if (!Number.isFinite(memoryMb) || memoryMb <= 0) throw new Error(`memoryMb must be a positive number, got ${memoryMb}`);
  return Math.min(memoryMb, LAMBDA_MB_PER_VCPU) / LAMBDA_MB_PER_VCPU;
}

/** The CFS quota in microseconds per period for a share of one CPU (at least the kernel's minimum of 1 ms). */
export function cfsQuotaMicros(share: number, periodUs = CFS_PERIOD_US): number {
  if (!(share > 0)) throw new Error(`share must be above 0, got ${share}`);
  return Math.max(1_000, Math.round(share * periodUs));
}

export class CpuLimit {
  /**
   * A new cgroup under `root` holding its processes to `share` of one CPU
   * with `weight`, or the reason it cannot be made (cgroups not writable, no
   * v1 `cpu` controller).
   */
  static create(name: string, options: CpuLimitOptions, root = CPU_CGROUP_ROOT): CpuLimit | { readonly unavailable: string } {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`cgroup name must be a plain file name, got ${name}`);
    const dir = path.join(root, name);
    try {
      mkdirSync(dir);
    } catch (err) {
      return { unavailable: `cannot create ${dir}: ${(err as Error).message}` };
    }
    const limit = new CpuLimit(dir, options.share);
    try {
      if (options.share !== undefined) {
        writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(cfsQuotaMicros(options.share)));
      }
      if (options.weight !== undefined) writeFileSync(path.join(dir, 'cpu.shares'), String(options.weight));
    } catch (err) {
      limit.remove();
      return { unavailable: `cannot set the CPU quota or weight of ${dir}: ${(err as Error).message}` };
    }
    return limit;
  }

  private constructor(readonly dir: string, readonly share: number | undefined) {}

  /** Moves a process, all its threads included, into the group. */
  addProcess(pid: number): void {
    writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  /** The pids in the group. */
  processes(): number[] {
    return readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }

  /** Periods in which the group ran out of quota, and the time it was held back (cpu.stat). */
  throttling(): { periods: number; throttledPeriods: number; throttledMs: number } {
    const stat = Object.fromEntries(readFileSync(path.join(this.dir, 'cpu.stat'), 'utf8').split('\n').filter(Boolean)
      .map((line) => line.split(' ') as [string, string]).map(([k, v]) => [k, Number(v)]));
    return { periods: stat.nr_periods ?? 0, throttledPeriods: stat.nr_throttled ?? 0, throttledMs: (stat.throttled_time ?? 0) / 1e6 };
  }

  /** Removes the group; its processes must have exited (the kernel refuses to remove a group in use). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
