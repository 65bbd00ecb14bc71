/**
 * Runs Lambda functions locally, each execution environment in a process of
 * its own (so that environments never mix), started when first needed and
 * kept warm. The parent side of the local runtime: it gives each invocation
 * its deadline, enforces the timeout (the process is killed, as Lambda ends a
 * timed-out environment), turns a crash into a function error, and reads the
 * function's stdout for logs and Embedded Metric Format lines.
 */
import { ChildProcess, fork } from 'child_process';
import { createHash, randomUUID } from 'crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { createInterface } from 'readline';

export interface FunctionSpec {
  readonly name: string;
  readonly arn: string;
  /** `Stack/LogicalId`, for messages. */
  readonly path: string;
  readonly codeDirectory: string;
  readonly handler: string;
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The template's variables, then the runtime's and the local run's. */
  readonly environment: Readonly<Record<string, string>>;
  /** Execution environments at most (reserved concurrency, or the run's cap). */
  readonly maxConcurrency: number;
}

export interface FunctionError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: string[];
}

export interface InvokeResult {
  readonly requestId: string;
  /** The JSON the function returned, or its error document. */
  readonly payload: string;
  /** Set when the invocation failed: `Unhandled`, as Lambda's X-Amz-Function-Error says. */
  readonly functionError?: 'Unhandled';
  readonly error?: FunctionError;
  /** What the function wrote while it ran. */
  readonly logs: string[];
  readonly durationMs: number;
}

export interface FunctionStats {
  invocations: number;
  errors: number;
  timeouts: number;
  crashes: number;
  coldStarts: number;
}

export interface RuntimeSinks {
  /** A line the function wrote (stdout or stderr). */
  log(functionName: string, line: string): void;
  /** A stdout line; returns true when it was an Embedded Metric Format document. */
  emf(line: string): boolean;
}

/** Bundles the bootstrap once (it runs in plain Node.js, without ts-node) and returns its path. */
export function bootstrapFile(): string {
  const directory = path.join(tmpdir(), 'cdk-iot-ingest-local');
  mkdirSync(directory, { recursive: true });
  const source = path.join(__dirname, 'lambda-bootstrap.ts');
  const compiled = path.join(__dirname, 'lambda-bootstrap.js');
  if (!existsSync(source) && existsSync(compiled)) return compiled;
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const out = path.join(directory, `bootstrap-${hash}.js`);
  if (!existsSync(out)) {
    // From the sources only (the package ships the compiled bootstrap): esbuild is the repository's.
    // eslint-disable-next-line @typescript-eslint/no-require-imports, import/no-extraneous-dependencies
    const esbuild = require('esbuild') as typeof import('esbuild');
    const result = esbuild.buildSync({ entryPoints: [source], bundle: true, platform: 'node', target: 'node18', write: false, logLevel: 'silent' });
    // Written aside and renamed, so that two runs starting at once never read half a file.
    const partial = `${out}.${process.pid}`;
    writeFileSync(partial, result.outputFiles[0].text);
    renameSync(partial, out);
  }
  return out;
}

/**
 * Holds a process to its function's CPU share, as Lambda does (a full vCPU at
 * 1,769 MB), through the cgroup v1 cpu controller when it is mounted and
 * writable; otherwise it does nothing and says so.
 */
export class CpuLimiter {
  static readonly ROOT = '/sys/fs/cgroup/cpu';

  /** The CFS quota for a function's memory, per 100 ms period. */
  static quotaUs(memoryMb: number): number {
    return Math.max(1000, Math.floor((100_000 * memoryMb) / 1769));
  }

  private readonly groups = new Set<string>();
  readonly active: boolean;
  readonly reason: string;

  constructor(enabled: boolean, private readonly root = CpuLimiter.ROOT) {
    if (!enabled) {
      this.active = false;
      this.reason = 'off (pass --cpu-limit to hold each function to its memory\'s CPU share)';
      return;
    }
    const group = path.join(root, `cdk-iot-ingest-${process.pid}`);
    if (!existsSync(path.join(root, 'cpu.cfs_quota_us'))) {
      this.active = false;
      this.reason = `unavailable: no cgroup v1 cpu controller at ${root}`;
      return;
    }
    try {
      mkdirSync(group);
      this.groups.add(group);
      this.active = true;
      this.reason = `on: each function process runs under a CFS quota of memory / 1,769 MB of one CPU (${root})`;
    } catch (err) {
      this.active = false;
      this.reason = `unavailable: the cgroup v1 cpu controller at ${root} is not writable (${(err as NodeJS.ErrnoException).code})`;
    }
  }

  attach(functionName: string, memoryMb: number, pid: number): void {
    if (!this.active) return;
    const group = path.join(this.root, `cdk-iot-ingest-${process.pid}`, functionName.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100));
    if (!this.groups.has(group)) {
      mkdirSync(group);
      writeFileSync(path.join(group, 'cpu.cfs_period_us'), '100000');
      writeFileSync(path.join(group, 'cpu.cfs_quota_us'), String(CpuLimiter.quotaUs(memoryMb)));
      this.groups.add(group);
    }
    writeFileSync(path.join(group, 'cgroup.procs'), String(pid));
  }

  /** Removes the groups (only once their processes are gone). */
  close(): void {
    for (const g of [...this.groups].reverse()) {
      try {
        rmdirSync(g);
      } catch {
        // still in use or already gone: the kernel removes nothing by itself, but a later run uses another name
      }
    }
    this.groups.clear();
  }
}

/**
 * The variables Lambda's Node.js runtime sets for every function; they take
 * precedence over the function's own, as in Lambda, where they are reserved.
 */
export function runtimeEnvironment(spec: FunctionSpec, bootstrap: string): Record<string, string> {
  return {
    AWS_LAMBDA_FUNCTION_NAME: spec.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]local`,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
    LAMBDA_TASK_ROOT: spec.codeDirectory,
    LAMBDA_RUNTIME_DIR: path.dirname(bootstrap),
    LOCAL_LAMBDA_FUNCTION_ARN: spec.arn,
    _HANDLER: spec.handler,
    TZ: 'UTC',
    LANG: 'en_US.UTF-8',
  };
}

/** One execution environment: a process that runs one invocation at a time. */
class ExecutionEnvironment {
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private pending?: { id: string; requestId: string; resolve: (r: Omit<InvokeResult, 'durationMs' | 'logs'>) => void; logs: string[] };
  alive = true;
  /** Killed, or about to be: never handed another invocation. */
  private dying = false;
  exitReason?: string;

  constructor(private readonly spec: FunctionSpec, bootstrap: string, private readonly sinks: RuntimeSinks, cpu: CpuLimiter) {
    // Lambda's Node.js runtime gives V8 most of the memory as its heap limit.
    const heapMb = Math.max(32, Math.floor(spec.memoryMb * 0.85));
    this.child = fork(bootstrap, [], {
      cwd: spec.codeDirectory,
      env: { ...spec.environment, ...runtimeEnvironment(spec, bootstrap) },
      execArgv: [`--max-old-space-size=${heapMb}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl-C reaches the run, which then stops its functions in order.
      detached: true,
    });
    if (this.child.pid) cpu.attach(spec.name, spec.memoryMb, this.child.pid);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!this.sinks.emf(line)) this.sinks.log(spec.name, line);
      this.pending?.logs.push(line);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.sinks.log(spec.name, line);
      this.pending?.logs.push(line);
    });
    this.ready = new Promise((resolve, reject) => {
      const initTimeout = setTimeout(() => {
        reject(new InitError({ errorType: 'Runtime.InitError', errorMessage: `the function did not start within ${this.initLimitMs() / 1000} s` }));
        this.kill();
      }, this.initLimitMs());
      this.child.on('message', (m: { type: string; id?: string; payload?: string; error?: FunctionError; fatal?: boolean }) => {
        // An uncaught error ends the environment (the process exits next): never reuse it.
        if (m.fatal) this.dying = true;
        if (m.type === 'ready') {
          clearTimeout(initTimeout);
          resolve();
        } else if (m.type === 'init-error') {
          clearTimeout(initTimeout);
          reject(new InitError(m.error!));
          this.kill();
        } else if ((m.type === 'result' || m.type === 'error') && this.pending && this.pending.id === m.id) {
          const p = this.pending;
          this.pending = undefined;
          p.resolve(m.type === 'result'
            ? { requestId: p.requestId, payload: m.payload! }
            : { requestId: p.requestId, payload: JSON.stringify(m.error), functionError: 'Unhandled', error: m.error });
        }
      });
      this.child.on('exit', (code, signal) => {
        clearTimeout(initTimeout);
        this.alive = false;
        this.exitReason = signal ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `exit status ${code}`;
        reject(new InitError({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: ${this.exitReason}` }));
        const p = this.pending;
        if (p) {
          this.pending = undefined;
          const error = { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${p.requestId} Error: Runtime exited with error: ${this.exitReason}` };
          p.resolve({ requestId: p.requestId, payload: JSON.stringify(error), functionError: 'Unhandled', error });
        }
      });
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get usable(): boolean {
    return this.alive && !this.dying;
  }

  private initLimitMs(): number {
    return Math.max(10_000, this.spec.timeoutSeconds * 1000);
  }

  start(): Promise<void> {
    return this.ready;
  }

  invoke(payload: string, requestId: string): Promise<Omit<InvokeResult, 'durationMs'> & { timedOut?: boolean; crashed?: boolean }> {
    const id = randomUUID();
    const logs: string[] = [];
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.id !== id) return;
        this.pending = undefined;
        const error = { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${this.spec.timeoutSeconds.toFixed(2)} seconds` };
        this.kill();
        resolve({ requestId, payload: JSON.stringify(error), functionError: 'Unhandled', error, logs, timedOut: true });
      }, timeoutMs);
      this.pending = {
        id,
        requestId,
        logs,
        resolve: (r) => {
          clearTimeout(timer);
          resolve({ ...r, logs, crashed: r.error?.errorType === 'Runtime.ExitError' });
        },
      };
      this.child.send({ type: 'invoke', id, requestId, payload, deadline: Date.now() + timeoutMs }, (err) => {
        // The process ended between being picked and being sent the event: as a crash during the invocation.
        if (err && this.pending?.id === id) {
          this.pending.resolve({ requestId, payload: JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: Runtime exited before the invocation` }), functionError: 'Unhandled', error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: Runtime exited before the invocation` } });
          this.pending = undefined;
        }
      });
    });
  }

  kill(): void {
    this.dying = true;
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** Ends the process and waits until it is gone. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), 2_000);
    await gone;
    clearTimeout(timer);
  }
}

class InitError extends Error {
  constructor(readonly error: FunctionError) {
    super(error.errorMessage);
  }
}

/** The execution environments of one function. */
export class FunctionPool {
  readonly stats: FunctionStats = { invocations: 0, errors: 0, timeouts: 0, crashes: 0, coldStarts: 0 };
  private readonly all = new Set<ExecutionEnvironment>();
  private readonly idle: ExecutionEnvironment[] = [];
  private readonly waiting: Array<() => void> = [];
  private stopped = false;

  constructor(
    readonly spec: FunctionSpec,
    private readonly bootstrap: string,
    private readonly sinks: RuntimeSinks,
    private readonly cpu: CpuLimiter,
  ) {}

  /** Starts one environment ahead of the first invocation (event source mapping targets). */
  async warm(): Promise<void> {
    if (this.all.size > 0) return;
    const env = this.spawn();
    try {
      await env.start();
      this.idle.push(env);
    } catch {
      this.all.delete(env);
    }
  }

  /** Environments running an invocation now. */
  get busy(): number {
    return this.all.size - this.idle.length;
  }

  /** Process ids of the running environments (tests kill them to prove recovery). */
  processIds(): number[] {
    return [...this.all].filter((e) => e.usable).map((e) => e.pid!).filter(Boolean);
  }

  async invoke(payload: string): Promise<InvokeResult> {
    const requestId = randomUUID();
    const started = Date.now();
    this.stats.invocations++;
    let env: ExecutionEnvironment;
    try {
      env = await this.acquire();
    } catch (err) {
      this.stats.errors++;
      const error = err instanceof InitError ? err.error : { errorType: 'Runtime.Unknown', errorMessage: (err as Error).message };
      return { requestId, payload: JSON.stringify(error), functionError: 'Unhandled', error, logs: [], durationMs: Date.now() - started };
    }
    try {
      const result = await env.invoke(payload, requestId);
      if (result.functionError) this.stats.errors++;
      if (result.timedOut) this.stats.timeouts++;
      if (result.crashed) this.stats.crashes++;
      const { functionError, error, logs } = result;
      return { requestId, payload: result.payload, functionError, error, logs, durationMs: Date.now() - started };
    } finally {
      this.release(env);
    }
  }

  private spawn(): ExecutionEnvironment {
    this.stats.coldStarts++;
    const env = new ExecutionEnvironment(this.spec, this.bootstrap, this.sinks, this.cpu);
    this.all.add(env);
    return env;
  }

  private async acquire(): Promise<ExecutionEnvironment> {
    for (;;) {
      if (this.stopped) throw new Error(`${this.spec.name} is stopping`);
      while (this.idle.length) {
        const env = this.idle.pop()!;
        if (env.usable) return env;
        this.all.delete(env);
      }
      for (const env of [...this.all]) if (!env.usable) this.all.delete(env);
      if (this.all.size < this.spec.maxConcurrency) {
        const env = this.spawn();
        try {
          await env.start();
          return env;
        } catch (err) {
          this.all.delete(env);
          throw err;
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(env: ExecutionEnvironment): void {
    if (env.usable && !this.stopped) this.idle.push(env);
    else this.all.delete(env);
    this.waiting.shift()?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all([...this.all].map((e) => e.stop()));
    this.all.clear();
    this.idle.length = 0;
  }
}
