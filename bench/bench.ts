/**
 * Benchmark: 10,000 readings (1 % malformed, 40 sensors) through the bundled
 * handlers (assets/handlers/*) against local servers, in one run:
 *
 *   npx projen bench     (bundles first; or, after `npx projen bundle`:
 *                         npx ts-node --transpile-only --project tsconfig.dev.json bench/bench.ts)
 *
 * 1. API calls and CPU: the processor in both metrics modes and the archiver
 *    at their default batch sizes, every API call counted, and the processor's
 *    CPU time per reading beside a floor (base64 + JSON.parse of the same
 *    records). Unlimited CPU, no added latency.
 * 2. Throughput: one processor behind a DynamoDB that takes a fixed round trip
 *    per call, held to the CPU share of a Lambda function of each memory size,
 *    with the writer at its default concurrency and at 1 (the baseline) in the
 *    same run; then, at the default memory size, a table that leaves items of
 *    30 % of the calls unprocessed, and a table held to a write capacity.
 *    Calls, wall time, exact stored counts, cost and headroom per shard.
 * 3. Memory size per handler: processor, archiver and query function side by
 *    side at each memory size: throughput or latency, cost, cold start, memory.
 *
 * Each handler runs in a process of its own (bench/handler-process.ts): a
 * warm-up, then the measured pass. The servers, and the proxies that add round
 * trips and limits, run in another process (bench/servers.ts). Only the
 * handler's process is held to a CPU share (a CFS quota in a cgroup v1 `cpu`
 * group, bench/handlers.ts). Where cgroups cannot be written (not root, no
 * cgroup v1 `cpu` controller) the bench says so and measures unlimited CPU.
 *
 * bench/profile.ts profiles the processor under the same load and summarizes it.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { HandlerRun } from './handlers';
import { runHandler } from './handlers';
import { Counts, Servers, startServers } from './servers';
import { formatTable, money, num } from './table';
import { DeviceRecord, LAMBDA_MB_PER_VCPU, LocalAws, makeDeviceRecords, toLambdaRecord } from '../local/src';
import { decodeRecord, Reading } from '../src/handlers/reading';
import { aggregate } from '../src/handlers/sensor-metrics';
import { chunk, dedupeByKey, MAX_BATCH_WRITE, toPutRequest } from '../src/handlers/table-writer';
import { bundlePath, loadBundle } from '../test/integration/bundles';

const READINGS = 10_000;
/**
 * Passes over the readings before the measured one, at full CPU speed, as by a
 * sandbox that has kept up with a shard for a while (see bench/handler-process.ts).
 */
const WARMUP_PASSES = 6;
/**
 * Measured passes of each throughput row, the median one reported: this
 * machine's other work can slow a whole pass by a third.
 */
const MEASURED_PASSES = 3;
const PROCESSOR_BATCH = 500;
// The S3 archiver's default batch size; the reference archives 100 records per invocation.
const ARCHIVER_BATCH = 1_000;
const REFERENCE_ARCHIVER_BATCH = 100;
const REFERENCE_BATCH = 25;
const STREAM_TIMEOUT_MS = 60_000;
const QUERY_TIMEOUT_MS = 10_000;
const QUERIES = 200;
const QUERY_WARMUP = 2_000;
const STREAM = 'bench-stream';
const DEAD_LETTER_BUCKET = 'bench-dead-letters';
const ARCHIVE_BUCKET = 'bench-archive';

/** What an in-region DynamoDB call costs, round trip. */
const DYNAMODB_ROUND_TRIP_MS = 8;
/** What an in-region S3 PutObject of a small object costs, round trip. */
const S3_ROUND_TRIP_MS = 20;
/** The memory sizes compared, in MB. */
const MEMORY_SIZES = [128, 256, 512, 1_024];
/** The processor's default memory size (src/handler-function.ts); keep in step. */
const DEFAULT_MEMORY_MB = 512;
/** Writer concurrencies tried beside the default, at the default memory size and at 1,024 MB. */
const CONCURRENCY_SWEEP = [2, 4, 8, 10, 16];
/** A provisioned shard takes up to 1,000 records a second. */
const SHARD_RECORDS_PER_SECOND = 1_000;
/** The capacity-limited table: items per second. */
const TABLE_CAPACITY = 1_000;
/** Lambda on arm64 (the handlers' architecture), us-east-1: per GB-second and per request. */
const PRICE_PER_GB_SECOND = 0.0000133334;
const PRICE_PER_REQUEST = 0.2 / 1e6;

interface Setup {
  readonly servers: Servers;
  readonly aws: LocalAws;
  readonly records: DeviceRecord[];
  readonly lambdaRecords: KinesisStreamRecord[];
  readonly base: Record<string, string | undefined>;
}

// ---------------------------------------------------------------------------
// Measures.

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Totals of the measured (warm) invocations. */
function totals(run: HandlerRun) {
  return {
    invocations: run.invocations.length,
    records: sum(run.invocations.map((i) => i.records)),
    wallMicros: sum(run.invocations.map((i) => i.wallMicros)),
    cpuMicros: sum(run.invocations.map((i) => i.cpuMicros)),
    floorMicros: sum(run.invocations.map((i) => i.floorMicros)),
    /** Billed GB-seconds at `memoryMb`: each invocation rounded up to the millisecond. */
    gbSeconds: (memoryMb: number) => sum(run.invocations.map((i) => Math.ceil(i.wallMicros / 1000) / 1000)) * (memoryMb / 1024),
  };
}

/** Dollars per million records (or requests), billed duration and requests of the warm invocations. */
function costPerMillion(run: HandlerRun, memoryMb: number): number {
  const t = totals(run);
  return ((t.gbSeconds(memoryMb) * PRICE_PER_GB_SECOND + t.invocations * PRICE_PER_REQUEST) / t.records) * 1e6;
}

function recordsPerSecond(run: HandlerRun): number {
  const t = totals(run);
  return t.records / (t.wallMicros / 1e6);
}

const coldStartMs = (run: HandlerRun) => (run.init.wallMicros + run.cold.wallMicros) / 1000;

interface StoredCheck {
  readonly expected: number;
  readonly stored: number;
  readonly exact: boolean;
}

/** Each valid reading stored once with its value, and nothing else. */
async function checkTable(aws: LocalAws, tableName: string, records: readonly DeviceRecord[]): Promise<StoredCheck> {
  const expected = new Map(records.filter((r) => r.expected).map((r) => [`${r.expected!.sensorId}|${r.expected!.timestamp}`, r.expected!.value]));
  const items = await aws.scanTable(tableName);
  const seen = new Set<string>();
  let exact = items.length === expected.size;
  for (const item of items) {
    const key = `${item.SensorId.S}|${item.Timestamp.S}`;
    if (seen.has(key) || expected.get(key) !== Number(item.Value.N)) exact = false;
    seen.add(key);
  }
  return { expected: expected.size, stored: items.length, exact };
}

/** The fewest BatchWriteItem calls that store the batches: 25 distinct readings a call. */
function minimumCalls(records: readonly DeviceRecord[], batchSize: number): number {
  let calls = 0;
  for (let i = 0; i < records.length; i += batchSize) {
    const keys = new Set(records.slice(i, i + batchSize).filter((r) => r.expected).map((r) => `${r.expected!.sensorId}|${r.expected!.timestamp}`));
    calls += Math.ceil(keys.size / MAX_BATCH_WRITE);
  }
  return calls;
}

const delta = (after: Counts, before: Counts, key: string) => (after[key] ?? 0) - (before[key] ?? 0);

let tables = 0;
/** A new table for the measured pass and one for the warm-up. */
async function freshTables(aws: LocalAws): Promise<{ tableName: string; warmupTable: string }> {
  const tableName = `bench-table-${++tables}`;
  await Promise.all([aws.createSensorTable(tableName), aws.createSensorTable(`${tableName}-warmup`)]);
  return { tableName, warmupTable: `${tableName}-warmup` };
}

interface ProcessorJobOptions {
  /** Default `WARMUP_PASSES`. */
  readonly warmupPasses?: number;
  /** The writer's concurrency; the handler's default when absent. */
  readonly concurrency?: number;
  /** Default false: see `StreamJob.pairedFloor`. */
  readonly pairedFloor?: boolean;
  /** Default 1. */
  readonly measuredPasses?: number;
}

function processorJob(s: Setup, warmupTable: string, options: ProcessorJobOptions = {}) {
  const { warmupPasses = WARMUP_PASSES, concurrency, pairedFloor = false, measuredPasses = 1 } = options;
  return {
    pairedFloor,
    measuredPasses,
    kind: 'processor' as const,
    bundle: bundlePath('processor'),
    records: s.lambdaRecords,
    batchSize: PROCESSOR_BATCH,
    timeoutMs: STREAM_TIMEOUT_MS,
    warmupPasses,
    warmupTarget: warmupTable,
    writeOptions: concurrency === undefined ? undefined : { concurrency },
  };
}

function archiverJob(s: Setup, warmupPrefix: string) {
  return {
    kind: 'archiver' as const,
    bundle: bundlePath('archiver'),
    records: s.lambdaRecords,
    batchSize: ARCHIVER_BATCH,
    timeoutMs: STREAM_TIMEOUT_MS,
    warmupPasses: WARMUP_PASSES,
    warmupTarget: warmupPrefix,
  };
}

function chunkEvents(records: readonly KinesisStreamRecord[], size: number): KinesisStreamEvent[] {
  const events: KinesisStreamEvent[] = [];
  for (let i = 0; i < records.length; i += size) events.push({ Records: records.slice(i, i + size) });
  return events;
}

/** The floor: what any processor must do with each record, base64 decode and JSON.parse. Best of 20 runs (JIT-warm). */
function floorMicros(events: readonly KinesisStreamEvent[]): number {
  let best = Number.POSITIVE_INFINITY;
  let parsed = 0;
  for (let run = 0; run < 20; run++) {
    const start = process.cpuUsage();
    for (const event of events) {
      for (const record of event.Records) {
        try {
          if (JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'))) parsed++;
        } catch {
          // malformed: counted all the same
        }
      }
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, used.user + used.system);
  }
  if (parsed === 0) throw new Error('nothing parsed');
  return best;
}

/**
 * The processor's own logic without any I/O: decode, validate, dedupe, map to
 * put requests, aggregate the metric. Best of 20 runs. What the processor
 * spends beyond this goes to the SDK (serializing, signing, HTTP) and to logs.
 */
function coreMicros(events: readonly KinesisStreamEvent[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 20; run++) {
    const start = process.cpuUsage();
    for (const event of events) {
      const readings: Array<{ reading: Reading; source: number }> = [];
      event.Records.forEach((record, source) => {
        const result = decodeRecord(record.kinesis.data);
        if (result.ok) for (const reading of result.readings) readings.push({ reading, source });
      });
      const items = dedupeByKey(readings);
      for (const group of chunk(items, MAX_BATCH_WRITE)) JSON.stringify(group.map((i) => toPutRequest(i.reading)));
      aggregate(items.map((i) => i.reading));
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, used.user + used.system);
  }
  return best;
}

// ---------------------------------------------------------------------------
// 1. API calls and CPU per reading.

async function callsAndCpu(s: Setup): Promise<string> {
  const processorRun = async (metricsMode: string, extra: Record<string, string | undefined> = {}) => {
    const { tableName, warmupTable } = await freshTables(s.aws);
    let before: Counts = {};
    const job = processorJob(s, warmupTable, { pairedFloor: true, measuredPasses: MEASURED_PASSES });
    const run = await runHandler(job, { ...s.base, TABLE_NAME: tableName, METRICS_MODE: metricsMode, ...extra }, {
      onWarm: async () => { before = await s.servers.counts(); },
    });
    const after = await s.servers.counts();
    const stored = await checkTable(s.aws, tableName, s.records);
    if (!stored.exact) throw new Error(`${metricsMode}: the table does not hold exactly the valid readings`);
    // Calls and EMF lines are counted over all measured passes, which make the same calls: per pass.
    const perPass = (total: number, what: string) => {
      if (total % MEASURED_PASSES !== 0) throw new Error(`${metricsMode}: ${total} ${what} in ${MEASURED_PASSES} passes that should make the same`);
      return total / MEASURED_PASSES;
    };
    return { run: { ...run, emfLines: perPass(run.emfLines, 'EMF lines') }, calls: (key: string) => perPass(delta(after, before, key), key) };
  };
  const events = chunkEvents(s.lambdaRecords, PROCESSOR_BATCH);
  const floor = floorMicros(events);
  const core = coreMicros(events);
  const pmd = await processorRun('PUT_METRIC_DATA');
  // EMF as in Lambda: enabled (POWERTOOLS_DEV unset), written to stdout (counted, not shown).
  const emf = await processorRun('EMF', { POWERTOOLS_DEV: undefined });

  let archiveBefore: Counts = {};
  const archiver = await runHandler(archiverJob(s, 'warmup/'), { ...s.base, ARCHIVE_BUCKET, ARCHIVE_PREFIX: 'raw/' }, {
    onWarm: async () => { archiveBefore = await s.servers.counts(); },
  });
  const archiveAfter = await s.servers.counts();

  const malformed = s.records.filter((r) => r.malformed).length;
  // Letters per processor batch, for the SQS destination (10 messages per SendMessageBatch).
  let sqsCalls = 0;
  for (let i = 0; i < s.records.length; i += PROCESSOR_BATCH) {
    sqsCalls += Math.ceil(s.records.slice(i, i + PROCESSOR_BATCH).filter((r) => r.malformed).length / 10);
  }
  const referenceBatches = Math.ceil(READINGS / REFERENCE_BATCH);
  const floorPer = floor / READINGS;
  const cpu = (r: HandlerRun) => totals(r).cpuMicros / totals(r).records;
  const ratio = (micros: number) => `${(micros / floorPer).toFixed(0)}x`;
  const pairedFloor = (r: HandlerRun) => totals(r).floorMicros / totals(r).records;
  const pairedRatio = (r: HandlerRun) => `${(totals(r).cpuMicros / totals(r).floorMicros).toFixed(0)}x`;
  const bw = (r: typeof pmd) => r.calls('dynamodb BatchWriteItem');
  const cw = (r: typeof pmd) => r.calls('cloudwatch PutMetricData');
  const dl = (r: typeof pmd) => r.calls(`s3 PutObject ${DEAD_LETTER_BUCKET}`);
  const rows: string[][] = [
    ['Processor invocations (batch size)', `${pmd.run.invocations.length} (${PROCESSOR_BATCH})`, `${emf.run.invocations.length} (${PROCESSOR_BATCH})`, `${referenceBatches} (${REFERENCE_BATCH})`],
    ['DynamoDB BatchWriteItem calls', String(bw(pmd)), String(bw(emf)), String(referenceBatches)],
    ['CloudWatch PutMetricData calls', String(cw(pmd)), String(cw(emf)), String(referenceBatches)],
    [`Dead letters (${malformed} malformed): S3 PutObject`, String(dl(pmd)), String(dl(emf)), '-'],
    ['Dead letters: SQS SendMessageBatch, if the queue destination (computed)', String(sqsCalls), String(sqsCalls), '-'],
    ['EMF log lines', String(pmd.run.emfLines), String(emf.run.emfLines), '0'],
    ['API calls, processor total', String(bw(pmd) + cw(pmd) + dl(pmd)), String(bw(emf) + cw(emf) + dl(emf)), String(2 * referenceBatches)],
    ['Archiver invocations (batch size)', `${archiver.invocations.length} (${ARCHIVER_BATCH})`, '', `${Math.ceil(READINGS / REFERENCE_ARCHIVER_BATCH)} (${REFERENCE_ARCHIVER_BATCH})`],
    ['Archiver S3 PutObject calls', String(delta(archiveAfter, archiveBefore, `s3 PutObject ${ARCHIVE_BUCKET}`)), '', String(Math.ceil(READINGS / REFERENCE_ARCHIVER_BATCH))],
    ['Processor CPU per reading (us)', cpu(pmd.run).toFixed(1), cpu(emf.run).toFixed(1), '-'],
    ['Floor, paired: base64 decode + JSON.parse per reading, in the handler process before each invocation (us)',
      pairedFloor(pmd.run).toFixed(2), pairedFloor(emf.run).toFixed(2), '-'],
    ['Processor CPU / floor, paired', pairedRatio(pmd.run), pairedRatio(emf.run), '-'],
    ['Floor, best of 20 runs in the bench process (us)', floorPer.toFixed(2), floorPer.toFixed(2), '-'],
    ['Processor CPU / floor, best of 20', ratio(cpu(pmd.run)), ratio(cpu(emf.run)), '-'],
    ['Pure core: decode, validate, dedupe, map, aggregate per reading, best of 20 (us)', (core / READINGS).toFixed(2), (core / READINGS).toFixed(2), '-'],
    ['Processor cold start: load + first batch, CPU (ms)', num((pmd.run.init.cpuMicros + pmd.run.cold.cpuMicros) / 1000),
      num((emf.run.init.cpuMicros + emf.run.cold.cpuMicros) / 1000), '-'],
  ];
  return [
    `1. API calls and CPU per reading: ${num(READINGS)} readings, unlimited CPU, no added latency`,
    '',
    formatTable([`${num(READINGS)} readings`, 'this library, PUT_METRIC_DATA', 'this library, EMF (default)', 'reference'], rows),
    '',
    'Reference: batch size 25, 1 BatchWriteItem + 1 PutMetricData per batch (computed, not run).',
    `Processor CPU: process.cpuUsage() of the handler process around each invocation, in the median of ${MEASURED_PASSES} measured passes`
      + ` after a warm-up of ${WARMUP_PASSES} passes over the readings; calls and EMF lines per pass.`,
    'The paired floor is measured in the same process right before each invocation, so both see the machine equally busy;',
    'the best-of-20 floor is the least disturbed of 20 runs, and so the stricter yardstick on a busy machine.',
  ].join('\n');
}

// ---------------------------------------------------------------------------
// 2. Throughput of one processor.

interface ThroughputRow {
  readonly label: string;
  readonly memoryMb?: number;
  readonly concurrency?: number;
  readonly run: HandlerRun & { limited: boolean; reason?: string };
  readonly calls: number;
  readonly minimumCalls: number;
  readonly stored: StoredCheck;
  /** All measured invocations, in milliseconds. */
  readonly wallMs: number;
  /** Items that reached the table per second of the measured pass (capacity run). */
  readonly writeRate?: number;
  readonly kind: 'clean' | 'baseline' | 'sweep' | 'unprocessed' | 'capacity';
}

async function processorUnderLoad(
  s: Setup,
  kind: ThroughputRow['kind'],
  memoryMb: number | undefined,
  concurrency: number | undefined,
  label: string,
): Promise<ThroughputRow> {
  const { tableName, warmupTable } = await freshTables(s.aws);
  const dynamo = await s.servers.proxy('dynamodb', {
    faultTarget: 'DynamoDB_20120810.BatchWriteItem',
    latencyMs: DYNAMODB_ROUND_TRIP_MS,
    ...(kind === 'unprocessed' ? { faultRate: 0.3, kinds: ['unprocessed'], seed: 42 } : {}),
    ...(kind === 'capacity' ? { capacity: { itemsPerSecond: TABLE_CAPACITY } } : {}),
  });
  try {
    let forwardedBefore = 0;
    // At capacity the table, not the handler, sets the pace: no warm-up, one pass.
    const atCapacity = kind === 'capacity';
    const job = processorJob(s, warmupTable, atCapacity
      ? { warmupPasses: 0, concurrency }
      : { concurrency, measuredPasses: MEASURED_PASSES });
    const run = await runHandler(job, {
      ...s.base, TABLE_NAME: tableName, METRICS_MODE: 'EMF', POWERTOOLS_DEV: undefined, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    }, { memoryMb, onWarm: async () => { forwardedBefore = (await dynamo.counts()).itemsForwarded; } });
    const wallMs = totals(run).wallMicros / 1000;
    const forwarded = (await dynamo.counts()).itemsForwarded - forwardedBefore;
    return {
      label,
      kind,
      memoryMb,
      concurrency,
      run,
      calls: run.batchWriteCalls,
      minimumCalls: minimumCalls(s.records, PROCESSOR_BATCH),
      stored: await checkTable(s.aws, tableName, s.records),
      wallMs,
      writeRate: kind === 'capacity' ? forwarded / (wallMs / 1000) : undefined,
    };
  } finally {
    await dynamo.close();
  }
}

function throughputTable(rows: readonly ThroughputRow[]): string {
  const clean = rows.find((r) => r.kind === 'clean' && r.memoryMb === DEFAULT_MEMORY_MB)!;
  const perReading = (r: ThroughputRow) => totals(r.run).wallMicros / totals(r.run).records;
  const header = [
    `processor, ${num(READINGS)} readings`, 'memory (CPU share)', 'writer concurrency', 'records/s', 'wall per reading (us)', 'vs concurrency 1',
    'CPU per reading (us)', 'BatchWriteItem calls (minimum)', 'wall time (ms)', 'stored / expected', '$ per million readings', 'headroom per shard',
  ];
  const body = rows.map((r) => {
    const baseline = r.kind === 'clean' || r.kind === 'sweep' ? rows.find((b) => b.kind === 'baseline' && b.memoryMb === r.memoryMb) : undefined;
    const share = r.memoryMb === undefined ? 'unlimited' : `${r.memoryMb} MB (${r.run.limited ? `${((r.memoryMb / LAMBDA_MB_PER_VCPU) * 100).toFixed(1)} %` : 'NOT HELD'})`;
    const rate = recordsPerSecond(r.run);
    const vsClean = r.kind === 'unprocessed' || r.kind === 'capacity' ? ` (${(r.wallMs / clean.wallMs).toFixed(1)}x clean)` : '';
    const label = r.writeRate !== undefined
      ? `${r.label}: ${num(r.writeRate)} items/s written, ${((r.writeRate / TABLE_CAPACITY) * 100).toFixed(0)} % of the limit`
      : r.label;
    return [
      label,
      share,
      r.concurrency === undefined ? 'default' : String(r.concurrency),
      num(rate),
      perReading(r).toFixed(0),
      baseline ? `${(perReading(r) / perReading(baseline)).toFixed(2)}x` : '',
      (totals(r.run).cpuMicros / totals(r.run).records).toFixed(1),
      `${r.calls} (${r.minimumCalls}; ${(r.calls / r.minimumCalls).toFixed(2)}x)`,
      `${num(r.wallMs)}${vsClean}`,
      `${num(r.stored.stored)} / ${num(r.stored.expected)}${r.stored.exact ? ', exact' : ', NOT EXACT'}`,
      r.memoryMb === undefined ? '-' : money(costPerMillion(r.run, r.memoryMb)),
      `${(rate / SHARD_RECORDS_PER_SECOND).toFixed(1)}x`,
    ];
  });
  return formatTable(header, body);
}

// ---------------------------------------------------------------------------
// 3. Archiver and query at each memory size.

async function archiverAt(s: Setup, memoryMb: number): Promise<HandlerRun> {
  const s3 = await s.servers.proxy('s3', { faultTarget: '-', latencyMs: S3_ROUND_TRIP_MS });
  try {
    return await runHandler(archiverJob(s, `warmup-${memoryMb}/`), {
      ...s.base, ARCHIVE_BUCKET, ARCHIVE_PREFIX: `raw-${memoryMb}/`, AWS_ENDPOINT_URL_S3: s3.endpoint,
    }, { memoryMb });
  } finally {
    await s3.close();
  }
}

async function queryAt(s: Setup, tableName: string, memoryMb: number): Promise<HandlerRun> {
  const dynamo = await s.servers.proxy('dynamodb', { faultTarget: '-', latencyMs: DYNAMODB_ROUND_TRIP_MS });
  const sensors = [...new Set(s.records.filter((r) => r.expected).map((r) => r.expected!.sensorId))];
  const events = Array.from({ length: QUERIES }, (_, i) => ({ sensorid: sensors[i % sensors.length], limit: 20 }));
  try {
    return await runHandler({ kind: 'query', bundle: bundlePath('query'), events, warmupEvents: QUERY_WARMUP, timeoutMs: QUERY_TIMEOUT_MS },
      { ...s.base, TABLE_NAME: tableName, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, { memoryMb });
  } finally {
    await dynamo.close();
  }
}

function memoryTable(processor: readonly ThroughputRow[], archiver: readonly HandlerRun[], query: readonly HandlerRun[]): string {
  const headroom = (r: HandlerRun) => `${num(recordsPerSecond(r))} (${(recordsPerSecond(r) / SHARD_RECORDS_PER_SECOND).toFixed(1)}x)`;
  const rows: string[][] = [
    ['processor: records/s (headroom per shard)', ...processor.map((r) => headroom(r.run))],
    ['processor: $ per million readings', ...processor.map((r) => money(costPerMillion(r.run, r.memoryMb!)))],
    ['processor: cold start, load + first batch (ms)', ...processor.map((r) => num(coldStartMs(r.run)))],
    ['processor: peak RSS (MB)', ...processor.map((r) => String(r.run.maxRssMb))],
    ['archiver: records/s (headroom per shard)', ...archiver.map(headroom)],
    ['archiver: $ per million readings', ...archiver.map((r, i) => money(costPerMillion(r, MEMORY_SIZES[i])))],
    ['archiver: cold start, load + first batch (ms)', ...archiver.map((r) => num(coldStartMs(r)))],
    ['archiver: peak RSS (MB)', ...archiver.map((r) => String(r.maxRssMb))],
    ['query: ms per request, warm', ...query.map((r) => (totals(r).wallMicros / totals(r).invocations / 1000).toFixed(1))],
    ['query: $ per million requests', ...query.map((r, i) => money(costPerMillion(r, MEMORY_SIZES[i])))],
    ['query: cold start, load + first request (ms)', ...query.map((r) => num(coldStartMs(r)))],
    ['query: peak RSS (MB)', ...query.map((r) => String(r.maxRssMb))],
  ];
  return formatTable(['handler', ...MEMORY_SIZES.map((mb) => `${num(mb)} MB`)], rows);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  // Fails here, clearly, when the bundles are missing.
  const names = ['processor', 'archiver', 'query'] as const;
  for (const name of names) loadBundle(name);
  console.log(`Bundles: ${names.map((n) => bundlePath(n)).join(', ')}`);

  const servers = await startServers();
  const aws = LocalAws.connect(servers.endpoints);
  try {
    await aws.createStream(STREAM);
    await aws.createBucket(DEAD_LETTER_BUCKET);
    await aws.createBucket(ARCHIVE_BUCKET);
    const records = makeDeviceRecords({ count: READINGS, malformedEvery: 100, sensors: 40, seed: 7 });
    await aws.putRecords(STREAM, records);
    const stream = await aws.shardReader(STREAM).readAll();
    if (stream.length !== READINGS) throw new Error(`read ${stream.length} records back`);
    const setup: Setup = {
      servers,
      aws,
      records,
      lambdaRecords: stream.map((r) => toLambdaRecord(r, { streamName: STREAM })),
      base: aws.handlerEnv({
        AWS_ENDPOINT_URL_CLOUDWATCH: servers.cloudwatch,
        DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/dead-letter/`,
        // As the constructs configure it.
        POWERTOOLS_LOG_LEVEL: 'INFO',
      }),
    };
    console.log(`\n${await callsAndCpu(setup)}\n`);

    // From here on S3 (dead letters, archive) takes a round trip too.
    const s3 = await servers.proxy('s3', { faultTarget: '-', latencyMs: S3_ROUND_TRIP_MS });
    const loaded: Setup = { ...setup, base: { ...setup.base, AWS_ENDPOINT_URL_S3: s3.endpoint } };
    const rows: ThroughputRow[] = [];
    for (const memoryMb of [...MEMORY_SIZES, undefined]) {
      const at = `${DYNAMODB_ROUND_TRIP_MS} ms round trip, ${memoryMb === undefined ? 'unlimited CPU' : `${memoryMb} MB`}`;
      rows.push(await processorUnderLoad(loaded, 'clean', memoryMb, undefined, at));
      rows.push(await processorUnderLoad(loaded, 'baseline', memoryMb, 1, `${at}, baseline`));
    }
    for (const memoryMb of [DEFAULT_MEMORY_MB, 1_024]) {
      for (const concurrency of CONCURRENCY_SWEEP) {
        rows.push(await processorUnderLoad(loaded, 'sweep', memoryMb, concurrency, `${DYNAMODB_ROUND_TRIP_MS} ms round trip, ${memoryMb} MB, concurrency sweep`));
      }
    }
    const at = `${DEFAULT_MEMORY_MB} MB`;
    rows.push(await processorUnderLoad(loaded, 'unprocessed', DEFAULT_MEMORY_MB, undefined, `${DYNAMODB_ROUND_TRIP_MS} ms, 30 % of calls leave items unprocessed, ${at}`));
    rows.push(await processorUnderLoad(loaded, 'capacity', DEFAULT_MEMORY_MB, undefined, `${DYNAMODB_ROUND_TRIP_MS} ms, table capacity ${num(TABLE_CAPACITY)} items/s, ${at}`));
    const limited = rows.filter((r) => r.memoryMb !== undefined);
    const unheld = limited.find((r) => !r.run.limited);
    const cpuNote = unheld
      ? `CPU NOT HELD: ${unheld.run.reason}. Every row measured unlimited CPU. Run the bench as root on Linux with the cgroup v1 cpu controller to hold each handler to its share.`
      : `Each handler process was held to its memory size's CPU share (memory / ${num(LAMBDA_MB_PER_VCPU)} MB of one vCPU: a CFS quota in a cgroup v1 cpu group).`;
    console.log([
      `2. Throughput of one processor: ${num(READINGS)} readings in batches of ${PROCESSOR_BATCH}, EMF metrics,`
        + ` DynamoDB ${DYNAMODB_ROUND_TRIP_MS} ms and S3 ${S3_ROUND_TRIP_MS} ms round trips`,
      '',
      throughputTable(rows),
      '',
      cpuNote,
      `All figures: the median of ${MEASURED_PASSES} measured passes by wall time, after a warm-up of ${WARMUP_PASSES} passes at full CPU speed`
        + ' (at capacity, where the table sets the pace: no warm-up, one pass).',
      'Cost: Lambda arm64 us-east-1, each invocation\'s billed milliseconds and its request.',
      `Minimum calls: 25 distinct readings per call within each batch. Headroom per shard: records/s over a shard's ${num(SHARD_RECORDS_PER_SECOND)} records/s.`,
      '',
    ].join('\n'));

    const { tableName: queryTable } = await freshTables(aws);
    await runHandler(processorJob(setup, queryTable, { warmupPasses: 0 }), { ...setup.base, TABLE_NAME: queryTable, METRICS_MODE: 'NONE' });
    const archivers: HandlerRun[] = [];
    const queries: HandlerRun[] = [];
    for (const memoryMb of MEMORY_SIZES) {
      archivers.push(await archiverAt(loaded, memoryMb));
      queries.push(await queryAt(loaded, queryTable, memoryMb));
    }
    await s3.close();
    console.log([
      `3. Memory size per handler: processor as in 2 (default writer concurrency), archiver at batches of ${num(ARCHIVER_BATCH)} (S3 ${S3_ROUND_TRIP_MS} ms),`
        + ` query of 20 readings (DynamoDB ${DYNAMODB_ROUND_TRIP_MS} ms)`,
      '',
      memoryTable(rows.filter((r) => r.kind === 'clean' && r.memoryMb !== undefined), archivers, queries),
      '',
      cpuNote,
      'Cold start: loading the bundle and the first invocation, at the function\'s CPU share. Peak RSS: the handler process, Node included.',
      `Query: ${QUERIES} requests one at a time after ${num(QUERY_WARMUP)} of warm-up.`,
      `Node ${process.version}, ${process.platform}/${process.arch}.`,
    ].join('\n'));
  } finally {
    aws.dynamodbClient.destroy();
    aws.kinesisClient.destroy();
    aws.s3Client.destroy();
    await servers.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
