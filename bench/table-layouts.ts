/**
 * What each table layout costs per reading, measured: the processor's write
 * step (src/handlers/processor.lambda.ts, in this process) against dynalite
 * behind a proxy that adds an in-region round trip to every call, every
 * DynamoDB request asked for its ConsumedCapacity and summed. The archiver's
 * objects are planned and compressed by its own code for the same records.
 *
 *   npx projen bench:layouts     (or: npx ts-node --transpile-only --project tsconfig.dev.json bench/table-layouts.ts [--sensors N] [--minutes N] [--defaults-only] [--packed-batch-size N])
 *
 * Traffic: N sensors reporting once a second, one reading per record, for
 * M minutes, cut into batches as each layout's event source mapping cuts
 * them by default (the per-reading layout: 500 records or 1 second; packed:
 * 10,000 records or 60 seconds), and each layout also with the other's
 * batches, so that what the layout does and what the batching does can be
 * told apart. Then gateways: one record per sensor and minute holding its
 * 60 readings. Prints WRU and RRU per reading and the dollar table of the
 * docs/costs.md.
 */
import { performance } from 'perf_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { formatTable, num } from './table';
import { CREDENTIALS, FaultProxy, REGION, startDynalite } from '../local/src';
import { planArchive, gzipLines } from '../src/handlers/archive';
import type { DeadLetter, DeadLetterSink } from '../src/handlers/dead-letter';
import { processBatch } from '../src/handlers/processor.lambda';
import { rawRecord } from '../src/handlers/raw-record';
import { DEFAULT_MAPPING } from '../src/handlers/reading';
import { LayoutSettings } from '../src/handlers/table-layout';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SENSORS = arg('sensors', 50);
const MINUTES = arg('minutes', 10);
/** Only the default batching of each layout: for many sensors, where small batches take long locally. */
const DEFAULTS_ONLY = args.includes('--defaults-only');
/**
 * The packed layout's batch size: what a batch holds of each sensor sets its
 * cost, so 50 sensors in batches of 500 stand for 1,000 sensors on a shard in
 * batches of 10,000 (10 readings of each sensor a batch).
 */
const PACKED_BATCH = arg('packed-batch-size', 10_000);
/** A DynamoDB call's round trip in the same region. */
const ROUND_TRIP_MS = 5;
/** The processor's default memory size. */
const PROCESSOR_MB = 512;
const START = Date.UTC(2024, 4, 14, 9, 0, 0);

/**
 * AWS public list prices, us-east-1, on-demand, in US dollars: those in
 * effect since 1 November 2024, when DynamoDB's on-demand prices were halved.
 */
export const PRICES = {
  date: '2024-11-01',
  kinesisPutUnitPerMillion: 0.014,
  kinesisShardHour: 0.015,
  lambdaRequestPerMillion: 0.2,
  /** arm64, the architecture of the bundled functions. */
  lambdaGbSecond: 0.0000133334,
  dynamoWruPerMillion: 0.625,
  dynamoRruPerMillion: 0.125,
  dynamoGbMonth: 0.25,
  cloudwatchLogsIngestGb: 0.5,
  cloudwatchMetricMonth: 0.3,
  cloudwatchAlarmMonth: 0.1,
  cloudwatchDashboardMonth: 3,
  s3PutPerThousand: 0.005,
  s3GbMonth: 0.023,
} as const;

class NoDeadLetters implements DeadLetterSink {
  async send(_letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    return [];
  }
}

interface Traffic {
  readonly name: string;
  /** Records in stream order: each a list of readings of one sensor. */
  readonly records: ReadonlyArray<{ data: string; arrival: number }>;
  readonly readings: number;
}

function perSecond(): Traffic {
  const records: Array<{ data: string; arrival: number }> = [];
  for (let s = 0; s < MINUTES * 60; s++) {
    for (let i = 0; i < SENSORS; i++) {
      const time = START + s * 1_000 + (i * 7) % 1_000;
      records.push({ data: JSON.stringify({ sensorid: `sensor-${i}`, timestamp: new Date(time).toISOString(), value: Math.round(Math.sin(s / 30 + i) * 2_000) / 100 }), arrival: time });
    }
  }
  return { name: `${SENSORS} sensors, 1 reading/s, a reading a record`, records, readings: records.length };
}

function gateways(): Traffic {
  const records: Array<{ data: string; arrival: number }> = [];
  for (let m = 0; m < MINUTES; m++) {
    for (let i = 0; i < SENSORS; i++) {
      const readings = Array.from({ length: 60 }, (_, s) => ({ sensorid: `sensor-${i}`, timestamp: new Date(START + m * 60_000 + s * 1_000 + (i * 7) % 1_000).toISOString(), value: Math.round(Math.sin((m * 60 + s) / 30 + i) * 2_000) / 100 }));
      records.push({ data: JSON.stringify(readings), arrival: START + (m + 1) * 60_000 });
    }
  }
  return { name: `${SENSORS} sensors, 1 reading/s, a minute a record`, records, readings: records.length * 60 };
}

/** Batches as an event source mapping cuts them: up to `size` records, or what arrived within `windowMs` of a batch's first record. */
function batchesOf(records: Traffic['records'], size: number, windowMs: number): Array<Traffic['records']> {
  const out: Array<Traffic['records']> = [];
  let i = 0;
  while (i < records.length) {
    const first = records[i].arrival;
    let j = i;
    while (j < records.length && j - i < size && records[j].arrival < first + Math.max(windowMs, 1)) j++;
    out.push(records.slice(i, j));
    i = j;
  }
  return out;
}

function eventOf(records: Traffic['records'], offset: number): KinesisStreamEvent {
  return {
    Records: records.map((r, i) => ({
      kinesis: {
        data: Buffer.from(r.data).toString('base64'),
        sequenceNumber: String(offset + i).padStart(20, '0'),
        partitionKey: 'k',
        kinesisSchemaVersion: '1.0',
        approximateArrivalTimestamp: r.arrival / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${offset + i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/bench',
      awsRegion: REGION,
      eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/bench',
    })),
  };
}

export interface LayoutMeasure {
  readonly layout: string;
  readonly batching: string;
  readonly traffic: string;
  readonly readings: number;
  readonly records: number;
  readonly invocations: number;
  readonly wru: number;
  readonly rru: number;
  readonly calls: Record<string, number>;
  readonly seconds: number;
  readonly emfBytes: number;
  readonly archiveObjects: number;
  readonly archiveBytes: number;
  /** What DynamoDB bills as stored: each item's size by its rules, plus 100 bytes an item. */
  readonly tableBytes: number;
}

// dynalite's item size: DynamoDB's rules for the size of an item (names, values, numbers by their digits).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const itemSize = (require('dynalite/db') as { itemSize: (item: unknown) => number }).itemSize;
/** DynamoDB's storage overhead per item. */
const ITEM_OVERHEAD_BYTES = 100;

let tables = 0;

async function measure(
  endpoint: string,
  layoutName: string,
  layout: LayoutSettings,
  traffic: Traffic,
  batching: { name: string; size: number; windowMs: number },
): Promise<LayoutMeasure> {
  const client = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint, maxAttempts: 1 });
  const tableName = `bench-layout-${++tables}`;
  await client.send(new CreateTableCommand({
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: 'SensorId', AttributeType: 'S' }, { AttributeName: 'Timestamp', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'SensorId', KeyType: 'HASH' }, { AttributeName: 'Timestamp', KeyType: 'RANGE' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  let wru = 0;
  let rru = 0;
  const calls: Record<string, number> = {};
  // Every request asks for its capacity; the answers are summed, writes and reads apart.
  client.middlewareStack.add((next, context) => async (a) => {
    const input = a.input as { ReturnConsumedCapacity?: string };
    input.ReturnConsumedCapacity = 'TOTAL';
    const out = await next(a);
    const op = String(context.commandName).replace(/Command$/, '');
    calls[op] = (calls[op] ?? 0) + 1;
    const consumed = (out.output as { ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }> }).ConsumedCapacity;
    const units = [consumed ?? []].flat().reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
    if (op === 'Scan') return out;
    if (op === 'Query' || op === 'GetItem') rru += units;
    else wru += units;
    return out;
  }, { step: 'initialize' });
  let emfBytes = 0;
  const deps = {
    tableName,
    dynamodb: client,
    mapping: { ...DEFAULT_MAPPING, acceptArrays: true },
    deadLetters: new NoDeadLetters(),
    metricsMode: 'EMF' as const,
    metricSettings: { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId' },
    emf: (text: string) => {
      emfBytes += Buffer.byteLength(text);
    },
    logger: new Logger({ serviceName: 'bench', logLevel: 'SILENT' }),
    layout,
  };
  const batches = batchesOf(traffic.records, batching.size, batching.windowMs);
  let offset = 0;
  const started = performance.now();
  for (const batch of batches) {
    const answer = await processBatch(eventOf(batch, offset), deps, () => 60_000);
    if (answer.batchItemFailures.length > 0 || answer.summary.stored !== answer.summary.readings) throw new Error(`${layoutName}: a batch was not stored whole`);
    offset += batch.length;
  }
  const seconds = (performance.now() - started) / 1000;
  // The archiver's own batching (1,000 records or 60 s) and its objects, for the same records.
  let archiveObjects = 0;
  let archiveBytes = 0;
  offset = 0;
  for (const batch of batchesOf(traffic.records, 1_000, 60_000)) {
    const plan = planArchive(eventOf(batch, offset).Records.map(rawRecord), 'raw/', 'timestamp');
    archiveObjects += plan.length;
    for (const object of plan) archiveBytes += gzipLines(object.lines).length;
    offset += batch.length;
  }
  let tableBytes = 0;
  let start: Record<string, any> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) tableBytes += itemSize(item) + ITEM_OVERHEAD_BYTES;
    start = page.LastEvaluatedKey;
  } while (start);
  client.destroy();
  return {
    layout: layoutName,
    batching: batching.name,
    traffic: traffic.name,
    readings: traffic.readings,
    records: traffic.records.length,
    invocations: batches.length,
    wru,
    rru,
    calls,
    seconds,
    emfBytes,
    archiveObjects,
    archiveBytes,
    tableBytes,
  };
}

const LAYOUTS: Record<string, LayoutSettings> = {
  'perReading': { kind: 'PER_READING', rollups: false, retentionSeconds: 0 },
  'perReading + rollups': { kind: 'PER_READING', rollups: true, retentionSeconds: 0 },
  'packed': { kind: 'PACKED', rollups: true, retentionSeconds: 0 },
  'packed, no rollups': { kind: 'PACKED', rollups: false, retentionSeconds: 0 },
};
const BATCHING = {
  reference: { name: '25 records, no window', size: 25, windowMs: 0 },
  perReading: { name: '500 records / 1 s', size: 500, windowMs: 1_000 },
  packed: { name: `${PACKED_BATCH.toLocaleString('en-US')} records / 60 s`, size: PACKED_BATCH, windowMs: 60_000 },
};

/** Dollars per million readings, by service, from a measure. */
export function dollarsPerMillion(m: LayoutMeasure): Record<string, number> {
  const perMillion = 1_000_000 / m.readings;
  // Lambda bills duration from the first millisecond to the answer: the measured wall time of the write step.
  const gbSeconds = m.seconds * (PROCESSOR_MB / 1024);
  return {
    'Kinesis PUT units': m.records * perMillion * PRICES.kinesisPutUnitPerMillion / 1e6,
    'Lambda requests': m.invocations * perMillion * PRICES.lambdaRequestPerMillion / 1e6,
    'Lambda GB-s': gbSeconds * perMillion * PRICES.lambdaGbSecond,
    'DynamoDB WRU': m.wru * perMillion * PRICES.dynamoWruPerMillion / 1e6,
    'DynamoDB RRU': m.rru * perMillion * PRICES.dynamoRruPerMillion / 1e6,
    'CloudWatch (EMF logs)': m.emfBytes * perMillion / 2 ** 30 * PRICES.cloudwatchLogsIngestGb,
    'S3 requests': m.archiveObjects * perMillion * PRICES.s3PutPerThousand / 1e3,
    'S3 storage, a month': m.archiveBytes * perMillion / 2 ** 30 * PRICES.s3GbMonth,
    'DynamoDB storage, a month': m.tableBytes * perMillion / 2 ** 30 * PRICES.dynamoGbMonth,
  };
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynalite = await startDynalite();
  const proxy = await FaultProxy.start({ target: dynalite.endpoint, faultTarget: 'none', latencyMs: ROUND_TRIP_MS });
  const results: LayoutMeasure[] = [];
  try {
    const second = perSecond();
    const minute = gateways();
    const runs: Array<[string, Traffic, keyof typeof BATCHING]> = [
      ['perReading', second, 'reference'],
      ['perReading', second, 'perReading'],
      ['perReading', second, 'packed'],
      ['perReading + rollups', second, 'perReading'],
      ['perReading + rollups', second, 'packed'],
      ['packed', second, 'perReading'],
      ['packed', second, 'packed'],
      ['packed, no rollups', second, 'packed'],
      ['perReading', minute, 'perReading'],
      ['packed', minute, 'perReading'],
      ['packed', minute, 'packed'],
    ];
    const defaults = (layout: string, batching: keyof typeof BATCHING) => (layout.startsWith('packed') ? batching === 'packed' : batching === 'perReading');
    for (const [layout, traffic, batching] of runs.filter(([l, , b]) => !DEFAULTS_ONLY || defaults(l, b))) {
      const m = await measure(proxy.endpoint, layout, LAYOUTS[layout], traffic, BATCHING[batching]);
      results.push(m);
      process.stderr.write(`${layout} / ${m.batching} / ${traffic.name}: ${(m.wru / m.readings).toFixed(4)} WRU a reading\n`);
    }
  } finally {
    await proxy.close();
    await dynalite.close();
  }
  console.log(`\nTable layouts: ${SENSORS} sensors for ${MINUTES} minutes (${num(SENSORS * MINUTES * 60)} readings), ${ROUND_TRIP_MS} ms a DynamoDB call`);
  console.log(formatTable(
    ['layout', 'traffic', 'batches of', 'invocations', 'WRU / reading', 'RRU / reading', 'vs perReading', 'bytes stored / reading', 'DynamoDB calls', 'write step, s'],
    results.map((m) => {
      const base = results.find((b) => b.layout === 'perReading' && b.traffic === m.traffic && b.batching === BATCHING.perReading.name) ?? results[0];
      return [
        m.layout,
        m.traffic.replace(/^\d+ sensors, 1 reading\/s, /, ''),
        m.batching,
        num(m.invocations),
        (m.wru / m.readings).toFixed(4),
        (m.rru / m.readings).toFixed(4),
        `${((m.wru / m.readings) / (base.wru / base.readings)).toFixed(3)}x`,
        (m.tableBytes / m.readings).toFixed(1),
        Object.entries(m.calls).map(([op, n]) => `${op} ${num(n)}`).join(', '),
        m.seconds.toFixed(1),
      ];
    }),
  ));
  const pick = (layout: string, batching: string) => results.find((m) => m.layout === layout && m.batching === batching && m.traffic.endsWith('a reading a record'));
  const columns = ([
    ['reference (25 records)', pick('perReading', BATCHING.reference.name)],
    ['perReading (default)', pick('perReading', BATCHING.perReading.name)],
    ['packed (default)', pick('packed', BATCHING.packed.name)],
  ] as Array<[string, LayoutMeasure | undefined]>).filter((c): c is [string, LayoutMeasure] => c[1] !== undefined);
  const dollars = columns.map(([, m]) => dollarsPerMillion(m));
  const services = Object.keys(dollars[0]);
  console.log(`\n$ per million readings (us-east-1 list prices in effect since ${PRICES.date}), a reading a record, 1 reading/s a sensor`);
  console.log(formatTable(
    ['service', ...columns.map(([name]) => name)],
    [...services.map((s) => [s, ...dollars.map((d) => `$${d[s].toFixed(4)}`)]),
      ['total', ...dollars.map((d) => `$${Object.values(d).reduce((a, b) => a + b, 0).toFixed(4)}`)]],
  ));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
