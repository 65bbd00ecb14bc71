/**
 * Runs a bundled handler in a process of its own (bench/handler-process.ts),
 * held to the CPU share of a Lambda function of a given memory size where
 * cgroups can be written, and collects what it measured.
 */
import { fork } from 'child_process';
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';
import type { FromHandler, HandlerResult, Job, ToHandler } from './handler-process';
import { BENCH_CPU_WEIGHT } from './servers';
import { CpuLimit, lambdaCpuShare } from '../local/src';

export interface HandlerRun extends HandlerResult {
  /** Lines the handler wrote to stdout that hold an EMF metric directive. */
  readonly emfLines: number;
  /** Periods in which the CPU quota ran out (0 without a quota). */
  readonly throttledPeriods: number;
}

export interface CpuLimitStatus {
  /** True when the handler runs under a CFS quota. */
  readonly limited: boolean;
  /** Why it is not, when it is not. */
  readonly reason?: string;
}

let cgroups = 0;

/**
 * The V8 heap limits Lambda's Node.js runtime sets for a memory size (its
 * bootstrap script): a tenth of the memory for the young generation, of which
 * half is one semi-space, and the rest for the old generation.
 */
export function lambdaHeapFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}
let harness: string | undefined;

/**
 * The handler process's own code (bench/handler-process.ts), bundled once, so
 * that the process runs on plain Node, without a TypeScript compiler in its
 * memory or its start-up: what it holds is the handler's.
 */
function harnessFile(): string {
  if (!harness) {
    harness = path.join(mkdtempSync(path.join(tmpdir(), 'bench-harness-')), 'handler-process.js');
    buildSync({
      entryPoints: [path.join(__dirname, 'handler-process.ts')], bundle: true, platform: 'node', target: 'node20', outfile: harness, logLevel: 'error',
    });
  }
  return harness;
}

/**
 * Forks the handler process with `env`, moves it into a cgroup holding it to
 * `memoryMb` / 1,769 of one CPU (unless `memoryMb` is undefined or cgroups
 * cannot be written), and runs `job` in it.
 */
export interface RunOptions {
  /** Memory size whose CPU share the process is held to; none for unlimited CPU. */
  readonly memoryMb?: number;
  /** Where the process writes a V8 CPU profile (`--cpu-prof`, a sample every 100 us); none for no profile. */
  readonly profileDir?: string;
  /** Called between the warm-up and the measured pass, e.g. to take the servers' call counts. */
  readonly onWarm?: () => Promise<void>;
}

export async function runHandler(job: Job, env: Record<string, string | undefined>, options: RunOptions = {}): Promise<HandlerRun & CpuLimitStatus> {
  const { memoryMb } = options;
  const childEnv = { ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memoryMb?.toString() };
  const child = fork(harnessFile(), [], {
    execArgv: [
      ...(memoryMb === undefined ? [] : lambdaHeapFlags(memoryMb)),
      ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, '--cpu-prof-interval=100'] : []),
    ],
    env: Object.fromEntries(Object.entries(childEnv).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // EMF lines of the measured pass: the count starts again at the end of the warm-up.
  let emfLines = 0;
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"_aws"')) emfLines++;
      else if (line === '--- end of warm phase ---') emfLines = 0;
    }
  });
  // Powertools writes warnings and errors to stderr: shown only when the process fails.
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const messages: FromHandler[] = [];
  let notify: () => void = () => undefined;
  child.on('message', (m: FromHandler) => {
    messages.push(m);
    notify();
  });
  const next = async (): Promise<FromHandler> => {
    while (messages.length === 0) {
      const arrived = new Promise<void>((resolve) => { notify = resolve; });
      const code = await Promise.race([arrived.then(() => undefined), exited]);
      if (code !== undefined && messages.length === 0) throw new Error(`the handler process exited (${code}) before it answered\n${stderr}`);
    }
    return messages.shift()!;
  };

  // Two groups: one holds the process to the memory size's share (the cold start and the measured
  // pass run in it); the other only weighs it (the warm-up runs there at full speed, since its
  // only purpose is to bring V8 to the state of a long-running sandbox). Both weigh the process
  // so that it has its share while the machine is busy with other work, as a Lambda function has.
  const groups: CpuLimit[] = [];
  const group = (share?: number): CpuLimit | string => {
    const made = CpuLimit.create(`cdk-iot-ingest-bench-${process.pid}-${++cgroups}`, { share, weight: BENCH_CPU_WEIGHT });
    if (!(made instanceof CpuLimit)) return made.unavailable;
    groups.push(made);
    return made;
  };
  let status: CpuLimitStatus = { limited: false, reason: 'no memory size given' };
  try {
    if ((await next()).type !== 'ready') throw new Error('the handler process did not start');
    const free = group();
    const held = memoryMb === undefined ? free : group(lambdaCpuShare(memoryMb));
    if (memoryMb !== undefined) status = held instanceof CpuLimit ? { limited: true } : { limited: false, reason: held as string };
    const moveTo = (g: CpuLimit | string) => {
      if (g instanceof CpuLimit) g.addProcess(child.pid!);
    };
    moveTo(held);
    child.send({ type: 'run', job } satisfies ToHandler);
    for (;;) {
      const answer = await next();
      if (answer.type === 'done') {
        if (answer.phase === 'cold') {
          moveTo(free);
        } else {
          moveTo(held);
          await options.onWarm?.();
        }
        child.send({ type: 'continue' } satisfies ToHandler);
        continue;
      }
      if (answer.type === 'error') throw new Error(`the handler process failed: ${answer.message}\n${stderr}`);
      if (answer.type !== 'result') throw new Error(`unexpected message from the handler process: ${answer.type}`);
      await exited;
      if (partial.includes('"_aws"')) emfLines++;
      const throttledPeriods = held instanceof CpuLimit && memoryMb !== undefined ? held.throttling().throttledPeriods : 0;
      return { ...answer.result, emfLines, throttledPeriods, ...status };
    }
  } finally {
    if (child.exitCode === null) child.kill();
    await exited;
    for (const g of groups) g.remove();
  }
}
