/**
 * One bundled handler in a process of its own, as in a Lambda sandbox: the
 * bench forks this file and sends it one job. The handler's environment comes
 * with the fork. What it writes to stdout (its log lines and EMF metrics) goes
 * to a pipe that the bench reads, as Lambda's runtime does; so writing it
 * costs what it costs in Lambda.
 *
 * A job runs in three phases, and the process tells the bench when each ends,
 * so that the bench can hold it to a CPU share where that is measured:
 *
 * 1. cold: loading the bundle and the first invocation, as a cold start;
 * 2. warm-up: `warmupPasses` passes over the records (or `warmupEvents`
 *    queries), as a sandbox that has kept up with a shard for a while has
 *    run them. The SDK's per-call CPU time falls to about a third over the
 *    first couple of thousand calls, while V8 optimizes its hot paths and
 *    sizes its heap: a function under sustained load runs in that state;
 * 3. measured: one pass over the records (or several, the median one
 *    reported), every invocation timed: wall time
 *    (performance.now) and CPU time of this process (process.cpuUsage).
 *    Its start and end are reported on the monotonic clock that V8's CPU
 *    profiles use, so that a profile (`--cpu-prof`) can be cut to this pass.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
// Types only: the process loads nothing but the bundle it is given, so that its memory and start-up are the handler's.
import type * as Archiver from '../src/handlers/archiver.lambda';
import type * as Processor from '../src/handlers/processor.lambda';
import type * as Query from '../src/handlers/query.lambda';
import type { WriteOptions } from '../src/handlers/table-writer';

/** Records delivered as a one-shard event source mapping delivers them, `batchSize` at a time. */
export interface StreamJob {
  readonly records: KinesisStreamRecord[];
  readonly batchSize: number;
  /** The function's timeout: each invocation's deadline. */
  readonly timeoutMs: number;
  /** Passes over `records` before the measured one, written to `warmupTarget` (a table or a prefix). */
  readonly warmupPasses: number;
  readonly warmupTarget: string;
  /**
   * Measure the floor before each measured invocation (`Invocation.floorMicros`).
   * Only where the CPU is not held: under a CPU quota the floor's work would
   * spend the function's share and slow the invocation it is paired with.
   */
  readonly pairedFloor?: boolean;
  /**
   * Measured passes, default 1. Of several, the one of median wall time is
   * reported (its invocations, calls and retries): on a machine shared with
   * other work, a pass slowed by that work then does not stand for the handler.
   */
  readonly measuredPasses?: number;
}

export type Job =
  | ({ readonly kind: 'processor'; readonly bundle: string; readonly writeOptions?: Pick<WriteOptions, 'concurrency'> } & StreamJob)
  | ({ readonly kind: 'archiver'; readonly bundle: string } & StreamJob)
  | { readonly kind: 'query'; readonly bundle: string; readonly events: unknown[]; readonly warmupEvents: number; readonly timeoutMs: number };

/** One invocation: wall and CPU time, in microseconds. */
export interface Invocation {
  readonly records: number;
  readonly wallMicros: number;
  readonly cpuMicros: number;
  /**
   * CPU time of the floor for the same records, measured in this process just
   * before the invocation: base64 decode and JSON.parse of each record, what
   * any processor must do. Paired this way, the floor and the invocation see
   * the same machine, busy or not. 0 unless the job asks for it.
   */
  readonly floorMicros: number;
}

export interface HandlerResult {
  /** Loading the bundle and building its clients. */
  readonly init: { wallMicros: number; cpuMicros: number };
  /** The first invocation, which follows the init. */
  readonly cold: Invocation;
  /** The measured invocations, after the warm-up. */
  readonly invocations: Invocation[];
  /** Measured invocations that re-delivered records after a reported failure. */
  readonly redeliveries: number;
  /** Summed from the processor's batch summaries of the (median) measured pass. */
  readonly batchWriteCalls: number;
  readonly retries: number;
  /** Peak resident set size of this process, in MB (the warm-up included). */
  readonly maxRssMb: number;
  /** When the (median) measured pass began and ended, in microseconds of the monotonic clock (a CPU profile's timestamps). */
  readonly measuredUs: { from: number; to: number };
}

export type Phase = 'cold' | 'warm';
export type FromHandler = { type: 'ready' } | { type: 'done'; phase: Phase } | { type: 'result'; result: HandlerResult } | { type: 'error'; message: string };
export type ToHandler = { type: 'run'; job: Job } | { type: 'continue' };

const send = (message: FromHandler) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

/** Tells the bench a phase has ended and waits until it says to go on. */
async function ended(phase: Phase): Promise<void> {
  const go = new Promise<void>((resolve) => {
    const listener = (m: ToHandler) => {
      if (m.type !== 'continue') return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });
  // Lines still on their way to the pipe belong to the phase that wrote them.
  await new Promise<void>((resolve) => process.stdout.write(`--- end of ${phase} phase ---\n`, () => resolve()));
  await send({ type: 'done', phase });
  await go;
}

function clock(): { wall: number; cpu: NodeJS.CpuUsage } {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}

function since(start: { wall: number; cpu: NodeJS.CpuUsage }): { wallMicros: number; cpuMicros: number } {
  const cpu = process.cpuUsage(start.cpu);
  return { wallMicros: Math.round((performance.now() - start.wall) * 1000), cpuMicros: cpu.user + cpu.system };
}

function load<T>(bundle: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(bundle) as T;
}

/** CPU microseconds of base64 decode and JSON.parse of each record's payload. */
function floorMicros(records: readonly KinesisStreamRecord[]): number {
  const start = process.cpuUsage();
  for (const record of records) {
    try {
      JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    } catch {
      // malformed: parsed all the same
    }
  }
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

type Invoke = (event: KinesisStreamEvent, remainingMs: () => number) => Promise<KinesisStreamBatchResponse>;

/**
 * Runs records through a handler as a one-shard event source mapping with
 * ReportBatchItemFailures does: in order, `batchSize` at a time, starting
 * again at the reported record after a partial failure. `afterFirst` runs
 * once the first invocation is done.
 */
async function mapStream(
  records: readonly KinesisStreamRecord[],
  job: StreamJob,
  invoke: Invoke,
  afterFirst?: () => Promise<void>,
): Promise<{ invocations: Invocation[]; redeliveries: number }> {
  const invocations: Invocation[] = [];
  let redeliveries = 0;
  let position = 0;
  let retriesHere = 0;
  while (position < records.length) {
    const Records = records.slice(position, position + job.batchSize);
    const floor = job.pairedFloor ? floorMicros(Records) : 0;
    const deadline = Date.now() + job.timeoutMs;
    const start = clock();
    const { batchItemFailures } = await invoke({ Records }, () => deadline - Date.now());
    invocations.push({ records: Records.length, ...since(start), floorMicros: floor });
    if (invocations.length === 1) await afterFirst?.();
    const failed = batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) {
      position += Records.length;
      retriesHere = 0;
      continue;
    }
    const at = Records.findIndex((r) => r.kinesis.sequenceNumber === failed);
    if (at < 0) throw new Error(`the handler reported ${failed}, which is not in the batch`);
    if (++retriesHere > 50) throw new Error(`gave up after 50 redeliveries from ${failed}`);
    position += at;
    redeliveries++;
  }
  return { invocations, redeliveries };
}

/** What a stream handler counts of its own calls, summed over the invocations so far. */
interface CallCounts {
  readonly batchWriteCalls: number;
  readonly retries: number;
}

/** The three phases over a stream: the first warm-up invocation is the cold one. */
async function stream(
  job: StreamJob,
  warmup: Invoke,
  measure: Invoke,
  counted: () => CallCounts = () => ({ batchWriteCalls: 0, retries: 0 }),
): Promise<{ cold: Invocation; invocations: Invocation[]; redeliveries: number; measuredUs: { from: number; to: number } } & CallCounts> {
  let cold: Invocation | undefined;
  for (let pass = 0; pass < job.warmupPasses; pass++) {
    const { invocations } = await mapStream(job.records, job, warmup, pass === 0 ? () => ended('cold') : undefined);
    cold ??= invocations[0];
  }
  if (!cold) await ended('cold');
  await ended('warm');
  const passes = [];
  for (let pass = 0; pass < (job.measuredPasses ?? 1); pass++) {
    const from = monotonicMicros();
    const before = counted();
    const measured = await mapStream(job.records, job, measure);
    const after = counted();
    passes.push({
      ...measured,
      measuredUs: { from, to: monotonicMicros() },
      batchWriteCalls: after.batchWriteCalls - before.batchWriteCalls,
      retries: after.retries - before.retries,
      wallMicros: measured.invocations.reduce((sum, i) => sum + i.wallMicros, 0),
    });
  }
  const { wallMicros: _, ...median } = [...passes].sort((a, b) => a.wallMicros - b.wallMicros)[Math.floor((passes.length - 1) / 2)];
  return { cold: cold ?? median.invocations[0], ...median };
}

async function run(job: Job): Promise<HandlerResult> {
  const base = { redeliveries: 0, batchWriteCalls: 0, retries: 0 };
  switch (job.kind) {
    case 'processor': {
      const start = clock();
      const processor = load<typeof Processor>(job.bundle);
      const fromEnv = processor.depsFromEnv(process.env);
      const deps = job.writeOptions ? { ...fromEnv, writeOptions: { ...fromEnv.writeOptions, ...job.writeOptions } } : fromEnv;
      const init = since(start);
      // The warm-up writes at the default concurrency whatever is measured: it only has to run the code.
      const warmupDeps = { ...fromEnv, tableName: job.warmupTarget };
      let batchWriteCalls = 0;
      let retries = 0;
      const warmup: Invoke = (event, remainingMs) => processor.processBatch(event, warmupDeps, remainingMs);
      const streamed = await stream(job, warmup, async (event, remainingMs) => {
        const out = await processor.processBatch(event, deps, remainingMs);
        batchWriteCalls += out.summary.batchWriteCalls;
        retries += out.summary.retries;
        return out;
      }, () => ({ batchWriteCalls, retries }));
      return { ...base, ...streamed, init, maxRssMb: maxRssMb() };
    }
    case 'archiver': {
      const start = clock();
      const archiver = load<typeof Archiver>(job.bundle);
      const deps = archiver.depsFromEnv(process.env);
      const init = since(start);
      const warmupDeps = { ...deps, prefix: job.warmupTarget };
      const streamed = await stream(job, (event) => archiver.archiveBatch(event, warmupDeps), (event) => archiver.archiveBatch(event, deps));
      return { ...base, ...streamed, init, maxRssMb: maxRssMb() };
    }
    case 'query': {
      const start = clock();
      const query = load<typeof Query>(job.bundle);
      const deps = query.depsFromEnv(process.env);
      const init = since(start);
      const ask = async (event: unknown): Promise<Invocation> => {
        const t = clock();
        const out = await query.handleQuery(event, deps);
        if (out.statusCode !== 200) throw new Error(`the query answered ${out.statusCode}: ${JSON.stringify(out)}`);
        return { records: 1, ...since(t), floorMicros: 0 };
      };
      const cold = await ask(job.events[0]);
      await ended('cold');
      // The warm-up only has to run the code often enough: eight at a time.
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < job.warmupEvents) await ask(job.events[next++ % job.events.length]);
      }));
      await ended('warm');
      const from = monotonicMicros();
      const invocations: Invocation[] = [];
      for (const event of job.events) invocations.push(await ask(event));
      return { ...base, init, cold, invocations, maxRssMb: maxRssMb(), measuredUs: { from, to: monotonicMicros() } };
    }
  }
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function maxRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

if (require.main === module) {
  process.once('message', (message: ToHandler) => {
    if (message.type !== 'run') return;
    void run(message.job).then(
      (result) => send({ type: 'result', result }),
      (err) => send({ type: 'error', message: String((err as Error)?.stack ?? err) }),
    )
      // Log and EMF lines still on their way to the pipe are written before the process ends.
      .then(() => new Promise<void>((resolve) => process.stdout.write('', () => resolve())))
      .finally(() => process.exit(0));
  });
  void send({ type: 'ready' });
}
