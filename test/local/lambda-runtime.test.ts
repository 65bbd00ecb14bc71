/** The local Lambda runtime: a real context, the timeout enforced, a crash or a throw as a function error, one process per environment. */
import { functionCode } from './helpers';
import { bootstrapFile, CpuLimiter, FunctionPool, FunctionSpec } from '../../local/src/runner/lambda-runtime';

jest.setTimeout(60_000);

const pools: FunctionPool[] = [];
const logs: string[] = [];
const emf: string[] = [];

function pool(source: string, overrides: Partial<FunctionSpec> = {}): FunctionPool {
  const p = new FunctionPool({
    name: 'fn',
    arn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
    path: 'Test/Fn',
    codeDirectory: functionCode(source),
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 3,
    memoryMb: 128,
    environment: { PATH: process.env.PATH!, GREETING: 'hello' },
    maxConcurrency: 2,
    ...overrides,
  }, bootstrapFile(), {
    log: (_, line) => logs.push(line),
    emf: (line) => (line.includes('"_aws"') ? (emf.push(line), true) : false),
  }, new CpuLimiter(false));
  pools.push(p);
  return p;
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.stop()));
});

test('a handler gets its event, its environment and a context whose remaining time counts down from the timeout', async () => {
  const fn = pool(`
    exports.handler = async (event, context) => {
      const before = context.getRemainingTimeInMillis();
      await new Promise((r) => setTimeout(r, 200));
      console.log('working on', event.n);
      return {
        n: event.n, greeting: process.env.GREETING, name: context.functionName, memory: context.memoryLimitInMB,
        requestId: context.awsRequestId, before, after: context.getRemainingTimeInMillis(),
        taskRoot: process.env.LAMBDA_TASK_ROOT === process.cwd(), pid: process.pid,
      };
    };`);
  const result = await fn.invoke('{"n":7}');
  expect(result.functionError).toBeUndefined();
  const out = JSON.parse(result.payload);
  expect(out).toMatchObject({ n: 7, greeting: 'hello', name: 'fn', memory: '128', requestId: result.requestId, taskRoot: true });
  expect(out.before).toBeLessThanOrEqual(3_000);
  expect(out.before).toBeGreaterThan(2_000);
  expect(out.before - out.after).toBeGreaterThanOrEqual(150);
  expect(result.logs).toContain('working on 7');
  expect(out.pid).not.toBe(process.pid);
  // Warm: the same process answers the next invocation.
  expect(JSON.parse((await fn.invoke('{"n":8}')).payload).pid).toBe(out.pid);
  expect(fn.stats).toMatchObject({ invocations: 2, errors: 0, coldStarts: 1 });
});

test('a timed-out invocation is a function error and its process is replaced', async () => {
  const fn = pool('exports.handler = async (e) => { if (e.hang) await new Promise(() => setInterval(() => {}, 1000)); return process.pid; };', { timeoutSeconds: 1 });
  const firstPid = JSON.parse((await fn.invoke('{}')).payload);
  const started = Date.now();
  const result = await fn.invoke('{"hang":true}');
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(result.functionError).toBe('Unhandled');
  expect(result.error).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: expect.stringContaining('Task timed out after 1.00 seconds') });
  const nextPid = JSON.parse((await fn.invoke('{}')).payload);
  expect(nextPid).not.toBe(firstPid);
  expect(fn.stats).toMatchObject({ timeouts: 1, coldStarts: 2 });
});

test('a thrown error, an uncaught exception and a killed process are function errors, as in Lambda', async () => {
  const fn = pool(`
    exports.handler = async (e) => {
      if (e.throw) { const err = new Error('no such sensor'); err.name = 'SensorError'; throw err; }
      if (e.uncaught) { setTimeout(() => { throw new Error('late failure'); }, 10); await new Promise((r) => setTimeout(r, 1000)); }
      if (e.exit) process.exit(3);
      return 'ok';
    };`);
  const thrown = await fn.invoke('{"throw":true}');
  expect(thrown.error).toMatchObject({ errorType: 'SensorError', errorMessage: 'no such sensor' });
  const uncaught = await fn.invoke('{"uncaught":true}');
  expect(uncaught.error).toMatchObject({ errorType: 'Runtime.UncaughtException', errorMessage: 'late failure' });
  const exited = await fn.invoke('{"exit":true}');
  expect(exited.error).toMatchObject({ errorType: 'Runtime.ExitError', errorMessage: expect.stringContaining('exit status 3') });
  // Killed from outside while idle: the next invocation starts a new process.
  const pids = fn.processIds();
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  expect(JSON.parse((await fn.invoke('{}')).payload)).toBe('ok');
  expect(fn.stats.crashes).toBeGreaterThanOrEqual(1);
});

test('a handler that cannot be loaded fails every invocation with the runtime error', async () => {
  const fn = pool('exports.other = async () => 1;');
  const result = await fn.invoke('{}');
  expect(result.error).toMatchObject({ errorType: 'Runtime.HandlerNotFound', errorMessage: 'index.handler is undefined or not exported' });
});

test('callback handlers are supported; Embedded Metric Format lines go to the metrics, not the log', async () => {
  const fn = pool(`
    exports.handler = (event, context, callback) => {
      console.log(JSON.stringify({ _aws: { Timestamp: 1, CloudWatchMetrics: [] }, n: event.n }));
      setTimeout(() => callback(null, { doubled: event.n * 2 }), 10);
    };`);
  const result = await fn.invoke('{"n":21}');
  expect(JSON.parse(result.payload)).toEqual({ doubled: 42 });
  expect(emf.some((l) => l.includes('"n":21'))).toBe(true);
  expect(logs.some((l) => l.includes('"n":21'))).toBe(false);
});

test('concurrent invocations run in separate processes, at most maxConcurrency', async () => {
  const fn = pool('exports.handler = async () => { await new Promise((r) => setTimeout(r, 300)); return process.pid; };', { maxConcurrency: 2 });
  const pids = await Promise.all([1, 2, 3, 4].map(() => fn.invoke('{}').then((r) => JSON.parse(r.payload))));
  expect(new Set(pids).size).toBe(2);
  expect(fn.stats.coldStarts).toBe(2);
});

test('the CPU quota follows Lambda: a full CPU at 1,769 MB', () => {
  expect(CpuLimiter.quotaUs(1769)).toBe(100_000);
  expect(CpuLimiter.quotaUs(256)).toBe(14_471);
  expect(new CpuLimiter(true, '/nonexistent/cgroup/cpu').active).toBe(false);
});
