/**
 * Benchmark: 10,000 readings (1 % malformed) through the bundled handlers
 * (assets/handlers/*, run `npx projen bundle` first) against local servers.
 *
 *   npx ts-node --transpile-only bench/bench.ts
 *
 * Prints a markdown table of API calls by service, Lambda invocations implied
 * by the default batch sizes, and the processor's CPU time per reading beside
 * a floor (base64 decode and JSON.parse of the same records) measured in the
 * same run. The reference implementation's figures are computed from its
 * batch size (25 readings: 1 BatchWriteItem + 1 PutMetricData per batch).
 *
 * The servers (dynalite, kinesalite, s3rver, a fake CloudWatch) run in a child
 * process, so that process.cpuUsage() in this one measures the handler (with
 * its SDK clients) and not the servers. The child counts the API calls.
 */
import { fork } from 'child_process';
import type { IncomingMessage } from 'http';
import type { KinesisStreamEvent } from 'aws-lambda';
import { FakeCloudWatch, LocalAws, LocalEndpoints, makeDeviceRecords, toKinesisEvents } from '../local/src';
import type * as Archiver from '../src/handlers/archiver.lambda';
import type * as Processor from '../src/handlers/processor.lambda';
import { decodeRecord, Reading } from '../src/handlers/reading';
import { aggregate } from '../src/handlers/sensor-metrics';
import { chunk, dedupeByKey, MAX_BATCH_WRITE, toPutRequest } from '../src/handlers/table-writer';
import { bundlePath, loadBundle, setEnv } from '../test/integration/bundles';

const READINGS = 10_000;
const PROCESSOR_BATCH = 500;
// The S3 archiver's default batch size; the reference archives 100 records per invocation.
const ARCHIVER_BATCH = 1_000;
const REFERENCE_ARCHIVER_BATCH = 100;
const REFERENCE_BATCH = 25;
const STREAM = 'bench-stream';
const DEAD_LETTER_BUCKET = 'bench-dead-letters';
const ARCHIVE_BUCKET = 'bench-archive';

type Counts = Record<string, number>;
type FromChild = { type: 'ready'; endpoints: LocalEndpoints; cloudwatch: string } | { type: 'counts'; counts: Counts };
type ToChild = { type: 'counts' } | { type: 'stop' };

// ---------------------------------------------------------------------------
// The child: servers and call counting.

function classify(service: keyof LocalEndpoints, req: IncomingMessage): string {
  if (service !== 's3') return `${service} ${String(req.headers['x-amz-target'] ?? '?').split('.').pop()}`;
  const [bucket, ...key] = decodeURIComponent((req.url ?? '/').split('?')[0]).slice(1).split('/');
  const operation = req.method === 'PUT' && key.join('/') ? 'PutObject' : `${req.method}`;
  return `s3 ${operation} ${bucket}`;
}

async function serve(): Promise<void> {
  const counts: Counts = {};
  const aws = await LocalAws.start((service, req) => {
    const key = classify(service, req);
    counts[key] = (counts[key] ?? 0) + 1;
  });
  const cloudwatch = await FakeCloudWatch.start();
  const send = (message: FromChild) => process.send!(message);
  process.on('message', (message: ToChild) => {
    if (message.type === 'counts') {
      const byTarget: Counts = {};
      for (const r of cloudwatch.requests) byTarget[`cloudwatch ${r.target.split('.').pop()}`] = (byTarget[`cloudwatch ${r.target.split('.').pop()}`] ?? 0) + 1;
      send({ type: 'counts', counts: { ...counts, ...byTarget } });
    } else {
      void Promise.all([cloudwatch.close(), aws.stop()]).finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', endpoints: aws.endpoints, cloudwatch: cloudwatch.endpoint });
}

// ---------------------------------------------------------------------------
// The parent: the handlers.

interface Servers {
  endpoints: LocalEndpoints;
  cloudwatch: string;
  counts(): Promise<Counts>;
  stop(): void;
}

async function startServers(): Promise<Servers> {
  const child = fork(__filename, ['--serve'], {
    execArgv: [...process.execArgv, '-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () => new Promise<FromChild>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the server process exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m: FromChild) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });
  const ready = await next();
  if (ready.type !== 'ready') throw new Error('unexpected message from the server process');
  return {
    endpoints: ready.endpoints,
    cloudwatch: ready.cloudwatch,
    counts: async () => {
      const reply = next();
      child.send({ type: 'counts' } satisfies ToChild);
      const m = await reply;
      return m.type === 'counts' ? m.counts : {};
    },
    stop: () => { child.send({ type: 'stop' } satisfies ToChild); },
  };
}

function delta(after: Counts, before: Counts, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

/** CPU microseconds (user + system) of this process while `fn` runs. */
async function cpuMicros<T>(fn: () => Promise<T>): Promise<{ result: T; micros: number }> {
  const start = process.cpuUsage();
  const result = await fn();
  const used = process.cpuUsage(start);
  return { result, micros: used.user + used.system };
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
 * spends beyond this goes to the SDK (serializing, signing, HTTP).
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

interface ProcessorRun {
  readonly counts: Counts;
  readonly before: Counts;
  readonly cpuMicros: number;
  readonly warmCpuMicros: number;
  readonly warmReadings: number;
  readonly wallMs: number;
  readonly emfLines: number;
}

async function runProcessor(servers: Servers, events: readonly KinesisStreamEvent[], env: Record<string, string | undefined>): Promise<ProcessorRun> {
  const restore = setEnv(env);
  const emf = { lines: 0 };
  const write = process.stdout.write;
  try {
    const processor = loadBundle<typeof Processor>('processor');
    const deps = processor.depsFromEnv(process.env);
    const before = await servers.counts();
    let cpu = 0;
    let warm = 0;
    let warmReadings = 0;
    const started = Date.now();
    // EMF goes to stdout: counted and kept off the terminal while the handler runs.
    process.stdout.write = ((text: string | Uint8Array) => {
      emf.lines += (text.toString().match(/"_aws"/g) ?? []).length;
      return true;
    }) as typeof process.stdout.write;
    for (const [i, event] of events.entries()) {
      const { result, micros } = await cpuMicros(() => processor.processBatch(event, deps, () => 60_000));
      if (result.batchItemFailures.length > 0) throw new Error(`batch ${i} reported a failure: ${JSON.stringify(result.summary)}`);
      cpu += micros;
      if (i > 0) {
        warm += micros;
        warmReadings += event.Records.length;
      }
    }
    const wallMs = Date.now() - started;
    process.stdout.write = write;
    return { before, counts: await servers.counts(), cpuMicros: cpu, warmCpuMicros: warm, warmReadings, wallMs, emfLines: emf.lines };
  } finally {
    process.stdout.write = write;
    restore();
  }
}

async function main(): Promise<void> {
  // Fails here, clearly, when the bundles are missing.
  loadBundle('processor');
  loadBundle('archiver');
  console.log(`Bundles: ${bundlePath('processor')}, ${bundlePath('archiver')}`);

  const servers = await startServers();
  const aws = LocalAws.connect(servers.endpoints);
  try {
    await Promise.all([aws.createSensorTable('bench-pmd'), aws.createSensorTable('bench-emf'), aws.createStream(STREAM)]);
    await aws.createBucket(DEAD_LETTER_BUCKET);
    await aws.createBucket(ARCHIVE_BUCKET);
    const records = makeDeviceRecords({ count: READINGS, malformedEvery: 100, sensors: 40, seed: 7 });
    await aws.putRecords(STREAM, records);
    const stream = await aws.shardReader(STREAM).readAll();
    if (stream.length !== READINGS) throw new Error(`read ${stream.length} records back`);
    const processorEvents = toKinesisEvents(stream, { streamName: STREAM }, PROCESSOR_BATCH);
    const archiverEvents = toKinesisEvents(stream, { streamName: STREAM }, ARCHIVER_BATCH);
    const malformed = records.filter((r) => r.malformed).length;

    const base = aws.handlerEnv({
      AWS_ENDPOINT_URL_CLOUDWATCH: servers.cloudwatch,
      DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/dead-letter/`,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const floor = floorMicros(processorEvents);
    const core = coreMicros(processorEvents);
    const pmd = await runProcessor(servers, processorEvents, { ...base, TABLE_NAME: 'bench-pmd', METRICS_MODE: 'PUT_METRIC_DATA' });
    // EMF as in Lambda: enabled (POWERTOOLS_DEV unset), written to stdout (counted here, not shown).
    const emf = await runProcessor(servers, processorEvents, { ...base, TABLE_NAME: 'bench-emf', METRICS_MODE: 'EMF', POWERTOOLS_DEV: undefined });

    // The archiver, at its default batch size.
    const restore = setEnv(aws.handlerEnv({ ARCHIVE_BUCKET, ARCHIVE_PREFIX: 'raw/' }));
    const archiver = loadBundle<typeof Archiver>('archiver');
    const archiveBefore = await servers.counts();
    for (const event of archiverEvents) {
      const out = await archiver.handler(event);
      if (out.batchItemFailures.length > 0) throw new Error('the archiver reported a failure');
    }
    const archiveAfter = await servers.counts();
    restore();

    // Letters per processor batch, for the SQS destination (10 messages per SendMessageBatch).
    const sqsCalls = processorEvents.reduce((n, _, i) => {
      const letters = records.slice(i * PROCESSOR_BATCH, (i + 1) * PROCESSOR_BATCH).filter((r) => r.malformed).length;
      return n + Math.ceil(letters / 10);
    }, 0);
    const calls = (run: ProcessorRun, key: string) => delta(run.counts, run.before, key);
    const bwPmd = calls(pmd, 'dynamodb BatchWriteItem');
    const bwEmf = calls(emf, 'dynamodb BatchWriteItem');
    const pmdCalls = calls(pmd, 'cloudwatch PutMetricData');
    const emfCalls = calls(emf, 'cloudwatch PutMetricData');
    const dlPmd = calls(pmd, `s3 PutObject ${DEAD_LETTER_BUCKET}`);
    const dlEmf = calls(emf, `s3 PutObject ${DEAD_LETTER_BUCKET}`);
    const archivePuts = delta(archiveAfter, archiveBefore, `s3 PutObject ${ARCHIVE_BUCKET}`);
    const referenceBatches = Math.ceil(READINGS / REFERENCE_BATCH);
    const perReading = (micros: number, n = READINGS) => (micros / n).toFixed(1);
    const floorPer = floor / READINGS;
    const ratio = (micros: number, n = READINGS) => `${(micros / n / floorPer).toFixed(0)}x`;

    const rows: string[][] = [
      ['Processor invocations (batch size)', `${processorEvents.length} (${PROCESSOR_BATCH})`, `${processorEvents.length} (${PROCESSOR_BATCH})`, `${referenceBatches} (${REFERENCE_BATCH})`],
      ['DynamoDB BatchWriteItem calls', String(bwPmd), String(bwEmf), String(referenceBatches)],
      ['CloudWatch PutMetricData calls', String(pmdCalls), String(emfCalls), String(referenceBatches)],
      [`Dead letters (${malformed} malformed): S3 PutObject`, String(dlPmd), String(dlEmf), '-'],
      ['Dead letters: SQS SendMessageBatch, if the queue destination (computed)', String(sqsCalls), String(sqsCalls), '-'],
      ['EMF log lines', String(pmd.emfLines), String(emf.emfLines), '0'],
      ['API calls, processor total', String(bwPmd + pmdCalls + dlPmd), String(bwEmf + emfCalls + dlEmf), String(2 * referenceBatches)],
      ['Archiver invocations (batch size)', `${archiverEvents.length} (${ARCHIVER_BATCH})`, '', `${Math.ceil(READINGS / REFERENCE_ARCHIVER_BATCH)} (${REFERENCE_ARCHIVER_BATCH})`],
      ['Archiver S3 PutObject calls', String(archivePuts), '', String(Math.ceil(READINGS / REFERENCE_ARCHIVER_BATCH))],
      ['Processor CPU per reading, all invocations (us)', perReading(pmd.cpuMicros), perReading(emf.cpuMicros), '-'],
      ['Processor CPU per reading, warm invocations (us)', perReading(pmd.warmCpuMicros, pmd.warmReadings), perReading(emf.warmCpuMicros, emf.warmReadings), '-'],
      ['Floor: base64 decode + JSON.parse per reading (us)', floorPer.toFixed(2), floorPer.toFixed(2), '-'],
      ['Pure core: decode, validate, dedupe, map, aggregate per reading (us)', (core / READINGS).toFixed(2), (core / READINGS).toFixed(2), '-'],
      ['Processor CPU / floor, all (warm)', `${ratio(pmd.cpuMicros)} (${ratio(pmd.warmCpuMicros, pmd.warmReadings)})`,
        `${ratio(emf.cpuMicros)} (${ratio(emf.warmCpuMicros, emf.warmReadings)})`, '-'],
      ['Processor wall time, 10,000 readings (ms)', String(pmd.wallMs), String(emf.wallMs), '-'],
    ];
    const header = ['10,000 readings', 'this library, PUT_METRIC_DATA', 'this library, EMF', 'reference'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    console.log([
      '',
      line(header),
      `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
      ...rows.map(line),
      '',
      `Node ${process.version}, ${process.platform}/${process.arch}; servers in a child process; CPU = process.cpuUsage() around processBatch.`,
      'Reference: batch size 25, 1 BatchWriteItem + 1 PutMetricData per batch (computed, not run).',
    ].join('\n'));
  } finally {
    aws.dynamodbClient.destroy();
    aws.kinesisClient.destroy();
    aws.s3Client.destroy();
    servers.stop();
  }
}

if (process.argv.includes('--serve')) {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
