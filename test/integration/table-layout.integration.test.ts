/**
 * Every table layout through the same suites, against dynalite and
 * kinesalite: the processor's batches delivered by a simulated event source
 * mapping (redelivered from the first failure, re-split at random batch
 * sizes) with faults injected in front of DynamoDB, then the query function
 * paging through raw readings and rollups. Each layout must store every
 * reading once, answer exactly what the per-reading layout answers, and keep
 * rollups that count each reading once.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateTableCommand, DynamoDBClient, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import * as fc from 'fast-check';
import {
  CREDENTIALS,
  FaultKind,
  FaultProxy,
  fakeContext,
  LocalAws,
  LocalServer,
  REGION,
  runEventSourceMapping,
  seededRandom,
  SHARD_ID,
  ShardReader,
  startDynalite,
} from '../../local/src';
import type { DeadLetter, DeadLetterSink } from '../../src/handlers/dead-letter';
import { processBatch, ProcessorDeps } from '../../src/handlers/processor.lambda';
import { DEFAULT_LIMITS } from '../../src/handlers/query-input';
import { handleQuery, QueryDeps } from '../../src/handlers/query.lambda';
import { DEFAULT_MAPPING, Reading } from '../../src/handlers/reading';
import {
  AttributeMap,
  DAY_MS,
  HOUR_MS,
  LayoutSettings,
  MINUTE_MS,
  readingsOfItem,
  Resolution,
  TTL_ATTRIBUTE,
} from '../../src/handlers/table-layout';

jest.setTimeout(300_000);

const LAYOUTS: Record<string, LayoutSettings> = {
  'per reading': { kind: 'PER_READING', rollups: false, retentionSeconds: 0 },
  'per reading with rollups': { kind: 'PER_READING', rollups: true, retentionSeconds: 0 },
  'packed': { kind: 'PACKED', rollups: true, retentionSeconds: 0 },
  'packed without rollups': { kind: 'PACKED', rollups: false, retentionSeconds: 0 },
};

/** Small, so that faults lead to reported failures and redeliveries at once. */
const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 };
const BASE = Date.UTC(2024, 4, 14);

let aws: LocalAws;
let tables = 0;
let streams = 0;

beforeAll(async () => {
  aws = await LocalAws.start();
});

afterAll(async () => {
  await aws?.stop();
});

class MemoryDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    this.letters.push(...letters);
    return [];
  }
}

const silent = () => new Logger({ serviceName: 'test', logLevel: process.env.LAYOUT_TEST_LOG as any ?? 'SILENT' });

async function newTable(client: DynamoDBClient = aws.dynamodbClient): Promise<string> {
  const tableName = `layout-table-${++tables}`;
  await client.send(new CreateTableCommand({
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: 'SensorId', AttributeType: 'S' }, { AttributeName: 'Timestamp', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'SensorId', KeyType: 'HASH' }, { AttributeName: 'Timestamp', KeyType: 'RANGE' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  return tableName;
}

async function scan(client: DynamoDBClient, tableName: string): Promise<AttributeMap[]> {
  const items: AttributeMap[] = [];
  let start: Record<string, any> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []) as AttributeMap[]);
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** A client as the processor builds its own: no SDK retries (the writer retries). */
const processorClient = (endpoint: string) => new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint, maxAttempts: 1 });

interface Delivery {
  /** Records in stream order, each a JSON array of readings. */
  readonly records: ReadonlyArray<readonly Reading[]>;
  readonly batchSize: number;
  readonly faultRate: number;
  readonly seed: number;
  /** Share of invocations killed part way: after a random number of DynamoDB calls, nothing more is sent and no answer comes. */
  readonly killRate?: number;
}

/**
 * Puts the records on a new stream and runs the processor over it through a
 * simulated event source mapping, with faults in front of DynamoDB: on the
 * operations this layout uses, throttling, 5xx and connections reset after
 * the write went through.
 */
async function deliver(
  layout: LayoutSettings,
  d: Delivery,
  endpoint = aws.endpoints.dynamodb,
): Promise<{ tableName: string; client: DynamoDBClient; deadLetters: MemoryDeadLetters }> {
  const plain = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint });
  const tableName = await newTable(plain);
  const streamName = `layout-stream-${++streams}`;
  await aws.createStream(streamName);
  for (let i = 0; i < d.records.length; i += 500) {
    await aws.putRecords(streamName, d.records.slice(i, i + 500).map((readings, j) => ({
      data: JSON.stringify(readings.map((r) => ({ sensorid: r.sensorId, timestamp: r.timestamp, value: r.value }))),
      partitionKey: `p${i + j}`,
    })));
  }
  const kinds: FaultKind[] = ['throttle', 'error500', 'reset'];
  // Two proxies in a row: one faults UpdateItem (packed items, rollups), the other BatchWriteItem (per-reading items).
  const inner = await FaultProxy.start({ target: endpoint, faultTarget: 'DynamoDB_20120810.BatchWriteItem', faultRate: d.faultRate, kinds, seed: d.seed });
  const outer = await FaultProxy.start({ target: inner.endpoint, faultTarget: 'DynamoDB_20120810.UpdateItem', faultRate: d.faultRate, kinds, seed: d.seed + 1 });
  const deadLetters = new MemoryDeadLetters();
  const dynamodb = processorClient(outer.endpoint);
  // A killed invocation: its calls from the kill on never leave, and the mapping sees the invocation fail.
  const random = seededRandom(d.seed + 2);
  let kill: { after: number; calls: number; trip: () => void } | undefined;
  dynamodb.middlewareStack.add((next) => async (a) => {
    const k = kill;
    if (k && ++k.calls > k.after) {
      k.trip();
      return new Promise<never>(() => undefined);
    }
    return next(a);
  }, { step: 'initialize' });
  const deps: ProcessorDeps = {
    tableName,
    dynamodb,
    mapping: { ...DEFAULT_MAPPING, acceptArrays: true },
    deadLetters,
    metricsMode: 'NONE',
    metricSettings: { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId' },
    logger: silent(),
    writeOptions: { retry: FAST_RETRY },
    layout,
  };
  try {
    await runEventSourceMapping(new ShardReader(aws.kinesisClient, streamName, SHARD_ID), async (event) => {
      const context = fakeContext();
      if (random() >= (d.killRate ?? 0)) {
        kill = undefined;
        const { batchItemFailures } = await processBatch(event, deps, () => context.getRemainingTimeInMillis());
        return { batchItemFailures };
      }
      const killed = new Promise<never>((_, reject) => {
        kill = { after: Math.floor(random() * 12), calls: 0, trip: () => reject(new Error('the invocation was killed')) };
      });
      const { batchItemFailures } = await Promise.race([processBatch(event, deps, () => context.getRemainingTimeInMillis()), killed]);
      return { batchItemFailures };
    }, { batchSize: d.batchSize, maxRetriesPerPosition: 200 });
  } finally {
    await outer.close();
    await inner.close();
    // kinesalite holds 100 shards in all: a shrinking property run makes more streams than that.
    await aws.kinesisClient.send(new DeleteStreamCommand({ StreamName: streamName }));
  }
  return { tableName, client: plain, deadLetters };
}

/** The value each key must hold: the last one in stream order. */
function expectedReadings(records: ReadonlyArray<readonly Reading[]>): Map<string, Reading> {
  const out = new Map<string, Reading>();
  for (const record of records) for (const r of record) out.set(`${r.sensorId}|${r.timestamp}`, r);
  return out;
}

async function storedReadings(client: DynamoDBClient, tableName: string): Promise<Map<string, Reading>> {
  const out = new Map<string, Reading>();
  for (const item of await scan(client, tableName)) {
    for (const r of readingsOfItem(item)) {
      const key = `${r.sensorId}|${r.timestamp}`;
      if (out.has(key)) throw new Error(`${key} is stored twice`);
      out.set(key, r);
    }
  }
  return out;
}

function queryDeps(client: DynamoDBClient, tableName: string, layout: LayoutSettings): QueryDeps {
  return { dynamodb: client, tableName, limits: { ...DEFAULT_LIMITS, maxLimit: 10_000 }, logger: silent(), layout };
}

/** Every page of a query, followed through its tokens. */
async function allPages(deps: QueryDeps, request: Record<string, unknown>): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const answer = await handleQuery({ ...request, ...(token ? { nextToken: token } : {}) }, deps) as any;
    if (answer.statusCode !== 200) throw new Error(`query answered ${answer.statusCode}: ${answer.error}`);
    items.push(...answer.items);
    token = answer.nextToken;
    if (++pages > 10_000) throw new Error('paging does not end');
  } while (token);
  return { items, pages };
}

interface ExpectedBucket { timestamp: string; count: number; sum: number; min: number; max: number; first: string; last: string }

/** The buckets a resolution must answer, computed from the readings themselves. */
function expectedBuckets(readings: readonly Reading[], sensorId: string, width: number): ExpectedBucket[] {
  const buckets = new Map<number, Reading[]>();
  for (const r of readings) {
    if (r.sensorId !== sensorId) continue;
    const start = Math.floor(Date.parse(r.timestamp) / width) * width;
    buckets.set(start, [...(buckets.get(start) ?? []), r]);
  }
  return [...buckets.entries()].sort(([a], [b]) => b - a).map(([start, list]) => {
    const times = list.map((r) => r.timestamp).sort();
    const values = list.map((r) => r.value);
    return {
      timestamp: new Date(start).toISOString(),
      count: list.length,
      sum: values.reduce((a, b) => a + b, 0),
      min: Math.min(...values),
      max: Math.max(...values),
      first: times[0],
      last: times[times.length - 1],
    };
  });
}

const SENSORS = ['sensor-a', 'capteur-é'];

/** Readings that share minutes, hours and days, arrive out of order, and repeat keys with other values. */
const readingArb = fc.record({
  sensor: fc.constantFrom(...SENSORS),
  day: fc.integer({ min: 0, max: 2 }),
  hour: fc.constantFrom(0, 1, 23),
  minute: fc.constantFrom(0, 1, 59),
  ms: fc.oneof(fc.integer({ min: 0, max: 59_999 }), fc.constantFrom(0, 59_999, 30_000)),
  // Integers: a sum is then exact in any order, so a rollup's sum must equal the readings' sum.
  value: fc.integer({ min: -1_000_000, max: 1_000_000 }),
}).map((g): Reading => ({
  sensorId: g.sensor,
  timestamp: new Date(BASE + g.day * DAY_MS + g.hour * HOUR_MS + g.minute * MINUTE_MS + g.ms).toISOString(),
  value: g.value,
}));

const deliveryArb = fc.record({
  records: fc.array(fc.array(readingArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 60 }),
  batchSize: fc.integer({ min: 1, max: 25 }),
  faultRate: fc.constantFrom(0, 0.2, 0.4),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  killRate: fc.constantFrom(0, 0.3),
});

const RESOLUTION_WIDTH: Record<Resolution, number> = { '1m': MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS };

describe.each(Object.entries(LAYOUTS))('%s layout', (_name, layout) => {
  test('property: every reading is stored once with its last value, whatever faults, kills and redeliveries; queries page through exactly those readings; rollups count each once', async () => {
    await fc.assert(fc.asyncProperty(deliveryArb, fc.integer({ min: 1, max: 40 }), async (d, pageSize) => {
      const { tableName, client, deadLetters } = await deliver(layout, d);
      expect(deadLetters.letters).toEqual([]);
      const expected = expectedReadings(d.records);
      const stored = await storedReadings(client, tableName);
      expect([...stored.entries()].sort()).toEqual([...expected.entries()].sort());

      const deps = queryDeps(client, tableName, layout);
      for (const sensorId of SENSORS) {
        const newestFirst = [...expected.values()].filter((r) => r.sensorId === sensorId)
          .sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1)).map((r) => ({ timestamp: r.timestamp, value: r.value }));
        const all = await allPages(deps, { sensorid: sensorId, limit: pageSize });
        expect(all.items).toEqual(newestFirst);
        // A time range: from the first hour of day 1 to the last minute of the same day.
        const from = new Date(BASE + DAY_MS).toISOString();
        const to = new Date(BASE + DAY_MS + 23 * HOUR_MS + 59 * MINUTE_MS + 30_000).toISOString();
        const ranged = await allPages(deps, { sensorid: sensorId, limit: pageSize, from, to });
        expect(ranged.items).toEqual(newestFirst.filter((r) => r.timestamp >= from && r.timestamp <= to));

        for (const resolution of Object.keys(RESOLUTION_WIDTH) as Resolution[]) {
          const request = { sensorid: sensorId, limit: pageSize, resolution };
          if (!layout.rollups) {
            const answer = await handleQuery(request, deps) as any;
            expect(answer.statusCode).toBe(400);
            expect(answer.error).toMatch(/resolution needs rollups/);
            continue;
          }
          const buckets = await allPages(deps, request);
          expect(buckets.items).toEqual(expectedBuckets([...expected.values()], sensorId, RESOLUTION_WIDTH[resolution]));
        }
      }
    }), { numRuns: 6, seed: 20240514 });
  });

  test('a year of daily buckets is answered in at most 2 Query pages', async () => {
    if (!layout.rollups) return;
    // One reading a day for a year, 4 readings a record.
    const readings: Reading[] = Array.from({ length: 366 }, (_, i) => ({ sensorId: 'yearly', timestamp: new Date(BASE + i * DAY_MS + 3 * HOUR_MS).toISOString(), value: i }));
    const records = Array.from({ length: Math.ceil(readings.length / 4) }, (_, i) => readings.slice(i * 4, i * 4 + 4));
    const { tableName, client } = await deliver(layout, { records, batchSize: 100, faultRate: 0, seed: 1 });
    let queries = 0;
    client.middlewareStack.add((next) => async (args) => {
      queries++;
      return next(args);
    }, { step: 'initialize' });
    const answer = await handleQuery({ sensorid: 'yearly', resolution: '1d', limit: 1000 }, queryDeps(client, tableName, layout)) as any;
    expect(answer.items).toHaveLength(366);
    expect(answer.nextToken).toBeUndefined();
    expect(queries).toBeLessThanOrEqual(2);
  });

  test('with a retention, every item written carries its TTL attribute: the newest time it covers plus the retention', async () => {
    const retentionSeconds = 7 * 86_400;
    const withRetention = { ...layout, retentionSeconds };
    const records = [[
      { sensorId: 'ttl', timestamp: new Date(BASE + 61_500).toISOString(), value: 1 },
      { sensorId: 'ttl', timestamp: new Date(BASE + HOUR_MS + 1).toISOString(), value: 2 },
    ]];
    const { tableName, client } = await deliver(withRetention, { records, batchSize: 10, faultRate: 0, seed: 1 });
    const items = await scan(client, tableName);
    expect(items.length).toBeGreaterThan(0);
    const endOf: Record<string, number> = { P: MINUTE_MS, H: HOUR_MS, D: DAY_MS, V: HOUR_MS };
    for (const item of items) {
      const key = item.Timestamp.S!;
      const start = Date.parse(/^\d/.test(key) ? key : key.slice(2, 26));
      const end = /^\d/.test(key) ? start : start + endOf[key[0]];
      expect({ key, ttl: Number(item[TTL_ATTRIBUTE]?.N) }).toEqual({ key, ttl: Math.ceil(end / 1000) + retentionSeconds });
    }
  });
});

describe('rollups under concurrent writers', () => {
  test.each([['packed', LAYOUTS.packed], ['per reading with rollups', LAYOUTS['per reading with rollups']]])(
    '%s: two invocations writing the same minute at once leave rollups of every reading', async (_name, layout) => {
      const client = processorClient(aws.endpoints.dynamodb);
      const tableName = await newTable();
      const deps = (id: number): ProcessorDeps => ({
        tableName,
        dynamodb: client,
        mapping: { ...DEFAULT_MAPPING, acceptArrays: true },
        deadLetters: new MemoryDeadLetters(),
        metricsMode: 'NONE',
        metricSettings: { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId-' + id },
        logger: silent(),
        layout,
      });
      const event = (offset: number) => ({
        Records: Array.from({ length: 20 }, (_, i) => ({
          kinesis: {
            data: Buffer.from(JSON.stringify({ sensorid: 'race', timestamp: new Date(BASE + offset + i * 1_000).toISOString(), value: i })).toString('base64'),
            sequenceNumber: String(offset + i),
          },
        })),
      }) as any;
      const readings: Reading[] = [];
      for (const offset of [0, 500]) for (let i = 0; i < 20; i++) readings.push({ sensorId: 'race', timestamp: new Date(BASE + offset + i * 1_000).toISOString(), value: i });
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all([processBatch(event(0), deps(1), () => 60_000), processBatch(event(500), deps(2), () => 60_000)]);
        expect(answers.map((a) => a.batchItemFailures)).toEqual([[], []]);
      }
      const q = queryDeps(client, tableName, layout);
      for (const resolution of ['1m', '1h', '1d'] as Resolution[]) {
        const answer = await handleQuery({ sensorid: 'race', resolution, limit: 100 }, q) as any;
        expect(answer.items).toEqual(expectedBuckets(readings, 'race', RESOLUTION_WIDTH[resolution]));
      }
    });
});

describe('packed items at the item size limit', () => {
  let small: LocalServer;
  beforeAll(async () => {
    // 8 KB instead of 400 KB: about 700 readings fill a minute's item.
    small = await startDynalite(undefined, { maxItemSizeKb: 8 });
  });
  afterAll(async () => {
    await small?.close();
  });

  test('readings that no longer fit go to their second\'s item; each is stored and answered once, in order, and counted once', async () => {
    // 1,500 readings in one minute (25 a second), and a few in the next, out of order, redelivered under faults.
    const readings: Reading[] = [];
    for (let i = 0; i < 1_500; i++) readings.push({ sensorId: 'fast', timestamp: new Date(BASE + i * 40).toISOString(), value: i % 97 });
    for (let i = 0; i < 30; i++) readings.push({ sensorId: 'fast', timestamp: new Date(BASE + MINUTE_MS + i * 1_000).toISOString(), value: -i - 1 });
    const scramble = (r: Reading) => (r.value * 7919 + Date.parse(r.timestamp)) % 13;
    const shuffled = [...readings].sort((a, b) => scramble(a) - scramble(b));
    const records = Array.from({ length: Math.ceil(shuffled.length / 5) }, (_, i) => shuffled.slice(i * 5, i * 5 + 5));
    const layout = LAYOUTS.packed;
    const { tableName, client } = await deliver(layout, { records, batchSize: 100, faultRate: 0.05, seed: 7 }, small.endpoint);
    const items = await scan(client, tableName);
    expect(items.some((i) => /^P#.*#\d\d$/.test(i.Timestamp.S!))).toBe(true);
    const stored = await storedReadings(client, tableName);
    expect([...stored.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : 1))).toEqual(readings);
    const q = queryDeps(client, tableName, layout);
    const newestFirst = [...readings].reverse().map((r) => ({ timestamp: r.timestamp, value: r.value }));
    expect((await allPages(q, { sensorid: 'fast', limit: 333 })).items).toEqual(newestFirst);
    const from = new Date(BASE + 20_000).toISOString();
    const to = new Date(BASE + 65_000).toISOString();
    expect((await allPages(q, { sensorid: 'fast', limit: 97, from, to })).items).toEqual(newestFirst.filter((r) => r.timestamp >= from && r.timestamp <= to));
    expect((await allPages(q, { sensorid: 'fast', resolution: '1m', limit: 10 })).items).toEqual(expectedBuckets(readings, 'fast', MINUTE_MS));
    expect((await allPages(q, { sensorid: 'fast', resolution: '1d', limit: 10 })).items).toEqual(expectedBuckets(readings, 'fast', DAY_MS));
  });

  test('a value written again at the same time, too long for the full item, leaves the minute\'s item for its second\'s', async () => {
    const client = processorClient(small.endpoint);
    const tableName = await newTable(client);
    const readings: Reading[] = [];
    for (let i = 0; i < 1_000; i++) readings.push({ sensorId: 'fix', timestamp: new Date(BASE + i * 50).toISOString(), value: 1 });
    const deps: ProcessorDeps = {
      tableName,
      dynamodb: client,
      mapping: { ...DEFAULT_MAPPING, acceptArrays: true },
      deadLetters: new MemoryDeadLetters(),
      metricsMode: 'NONE',
      metricSettings: { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId' },
      logger: silent(),
      layout: LAYOUTS.packed,
    };
    const event = (list: readonly Reading[]) => ({
      Records: [{ kinesis: { data: Buffer.from(JSON.stringify(list.map((r) => ({ sensorid: r.sensorId, timestamp: r.timestamp, value: r.value })))).toString('base64'), sequenceNumber: '1' } }],
    }) as any;
    expect((await processBatch(event(readings), deps, () => 60_000)).batchItemFailures).toEqual([]);
    // The first reading again, with a value of 17 significant digits instead of 1.
    const fix = { ...readings[0], value: 0.12345678901234567 };
    expect((await processBatch(event([fix]), deps, () => 60_000)).batchItemFailures).toEqual([]);
    const stored = await storedReadings(client, tableName);
    expect(stored.size).toBe(1_000);
    expect(stored.get(`fix|${fix.timestamp}`)!.value).toBe(fix.value);
    const minute = (await handleQuery({ sensorid: 'fix', resolution: '1m' }, queryDeps(client, tableName, LAYOUTS.packed)) as any).items;
    expect(minute).toEqual(expectedBuckets([fix, ...readings.slice(1)], 'fix', MINUTE_MS));
  });
});

test('a rollup entry is not replaced by an older state', async () => {
  const client = processorClient(aws.endpoints.dynamodb);
  const tableName = await newTable();
  const hour = new Date(BASE).toISOString();
  const write = (n: number, version: number) => client.send(new UpdateItemCommand({
    TableName: tableName,
    Key: { SensorId: { S: 's' }, Timestamp: { S: `H#${hour}` } },
    UpdateExpression: 'SET #e = :e',
    ConditionExpression: 'attribute_not_exists(#e) OR #e.#ver <= :v',
    ExpressionAttributeNames: { '#e': 'm00', '#ver': 'v' },
    ExpressionAttributeValues: { ':e': { M: { n: { N: String(n) }, v: { N: String(version) } } }, ':v': { N: String(version) } },
  }));
  await write(5, 2);
  await expect(write(3, 1)).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
  await write(5, 2);
  const items = await scan(client, tableName);
  expect(items[0].m00.M!.n.N).toBe('5');
});
