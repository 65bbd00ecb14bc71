import { spawn } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { CPU_CGROUP_ROOT, cfsQuotaMicros, CpuLimit, lambdaCpuShare, LAMBDA_MB_PER_VCPU } from '../../local/src';

describe('lambdaCpuShare and cfsQuotaMicros', () => {
  test('memory / 1,769 MB of one vCPU, capped at one', () => {
    expect(LAMBDA_MB_PER_VCPU).toBe(1_769);
    expect(lambdaCpuShare(1_769)).toBe(1);
    expect(lambdaCpuShare(256)).toBeCloseTo(0.1447, 4);
    expect(lambdaCpuShare(10_240)).toBe(1);
    expect(cfsQuotaMicros(lambdaCpuShare(256))).toBe(14_471);
    expect(cfsQuotaMicros(lambdaCpuShare(128))).toBe(7_236);
    // the kernel refuses quotas under 1 ms
    expect(cfsQuotaMicros(0.001)).toBe(1_000);
    expect(() => lambdaCpuShare(0)).toThrow('memoryMb must be a positive number, got 0');
    expect(() => cfsQuotaMicros(0)).toThrow('share must be above 0, got 0');
  });
});

describe('CpuLimit against a stand-in for the cgroup file system', () => {
  // A plain directory takes the same writes the kernel's files do; it checks what is written where.
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cgroup-root-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('creates the group with the period and quota, adds a process, reads throttling, removes the group', () => {
    const limit = CpuLimit.create('bench-1', { share: lambdaCpuShare(512), weight: 8_192 }, root);
    if (!(limit instanceof CpuLimit)) throw new Error(limit.unavailable);
    expect(readFileSync(path.join(root, 'bench-1', 'cpu.cfs_period_us'), 'utf8')).toBe('100000');
    expect(readFileSync(path.join(root, 'bench-1', 'cpu.cfs_quota_us'), 'utf8')).toBe('28943');
    expect(readFileSync(path.join(root, 'bench-1', 'cpu.shares'), 'utf8')).toBe('8192');
    limit.addProcess(4242);
    expect(readFileSync(path.join(root, 'bench-1', 'cgroup.procs'), 'utf8')).toBe('4242');
    writeFileSync(path.join(root, 'bench-1', 'cpu.stat'), 'nr_periods 40\nnr_throttled 12\nthrottled_time 345000000\n');
    expect(limit.throttling()).toEqual({ periods: 40, throttledPeriods: 12, throttledMs: 345 });
    for (const f of ['cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.shares', 'cgroup.procs', 'cpu.stat']) rmSync(path.join(root, 'bench-1', f));
    limit.remove();
    expect(existsSync(path.join(root, 'bench-1'))).toBe(false);
    // removing twice is harmless
    limit.remove();
  });

  test('where the hierarchy cannot be written, says why instead of throwing', () => {
    const made = CpuLimit.create('bench-2', { share: 0.5 }, path.join(root, 'no-such-controller'));
    expect(made).toEqual({ unavailable: expect.stringMatching(/^cannot create .*no-such-controller\/bench-2: ENOENT/) });
    mkdirSync(path.join(root, 'taken'));
    expect(CpuLimit.create('taken', { share: 0.5 }, root)).toEqual({ unavailable: expect.stringMatching(/EEXIST/) });
  });

  test('a name that is not a plain file name is refused', () => {
    expect(() => CpuLimit.create('../escape', { share: 0.5 }, root)).toThrow('cgroup name must be a plain file name, got ../escape');
  });
});

describe('CpuLimit on this machine', () => {
  test('moves a process into a real cgroup where the cpu controller is writable, and says why not elsewhere', async () => {
    const made = CpuLimit.create(`cdk-iot-ingest-test-${process.pid}`, { share: lambdaCpuShare(256) });
    if (!(made instanceof CpuLimit)) {
      expect(made.unavailable).toContain(CPU_CGROUP_ROOT);
      return;
    }
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      made.addProcess(child.pid!);
      expect(made.processes()).toEqual([child.pid]);
      expect(readFileSync(path.join(made.dir, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('14471');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
      made.remove();
    }
    expect(existsSync(made.dir)).toBe(false);
  });
});
