/**
 * The bundled processor (assets/handlers/processor.lambda/index.js, the file
 * that ships) against dynalite, kinesalite and s3rver, with faults injected in
 * front of DynamoDB and the event source mapping simulated.
 */
import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { loadBundle, setEnv } from './bundles';
import {
  CREDENTIALS,
  DeviceRecord,
  fakeContext,
  FakeCloudWatch,
  FaultKind,
  FaultProxy,
  LocalAws,
  makeDeviceRecords,
  MALFORMED_REASONS,
  REGION,
  runEventSourceMapping,
  SHARD_ID,
  StreamRecord,
  toKinesisEvent,
} from '../../local/src';
import type * as Processor from '../../src/handlers/processor.lambda';

jest.setTimeout(120_000);

const DEAD_LETTER_BUCKET = 'dead-letters';
/** The processor's default batch size, as the construct configures the event source mapping. */
const BATCH_SIZE = 500;
/** Small, so that faults lead to reported failures and redeliveries within seconds. */
const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 };

let aws: LocalAws;
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createBucket(DEAD_LETTER_BUCKET);
});

afterAll(async () => {
  restoreEnv();
  await aws?.stop();
});

afterEach(() => {
  restoreEnv();
  restoreEnv = () => undefined;
});

let streams = 0;
/** A new stream holding the records, and the sequence number of each record, in order. */
async function streamWith(records: readonly DeviceRecord[]): Promise<{ streamName: string; sequenceNumbers: string[] }> {
  const streamName = `sensor-stream-${++streams}`;
  await aws.createStream(streamName);
  const sequenceNumbers = await aws.putRecords(streamName, records);
  return { streamName, sequenceNumbers };
}

/** Checks the table against the valid records: every key once, with its value, nothing else. */
async function expectTableToHoldExactly(tableName: string, records: readonly DeviceRecord[]): Promise<number> {
  const items = await aws.scanTable(tableName);
  const expected = new Map(records.filter((r) => r.expected).map((r) => [`${r.expected!.sensorId}|${r.expected!.timestamp}`, r.expected!.value]));
  const stored = new Map<string, number>();
  for (const item of items) {
    const key = `${item.SensorId.S}|${item.Timestamp.S}`;
    expect(stored.has(key)).toBe(false);
    stored.set(key, Number(item.Value.N));
  }
  expect(stored.size).toBe(expected.size);
  const missing = [...expected.keys()].filter((k) => !stored.has(k));
  expect(missing).toEqual([]);
  const wrong = [...expected.entries()].filter(([k, v]) => stored.get(k) !== v);
  expect(wrong).toEqual([]);
  return items.length;
}

interface DeadLetterLine {
  reason: string;
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalTimestamp: string;
  payload?: string;
}

async function readDeadLetters(prefix: string): Promise<{ objects: number; lines: DeadLetterLine[] }> {
  const keys = await aws.listKeys(DEAD_LETTER_BUCKET, prefix);
  const lines: DeadLetterLine[] = [];
  for (const key of keys) {
    const { body } = await aws.getObject(DEAD_LETTER_BUCKET, key);
    for (const line of body.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
  }
  return { objects: keys.length, lines };
}

describe('the fault proxy', () => {
  async function oneCall(kind: FaultKind, tableName: string) {
    const proxy = await FaultProxy.start({
      target: aws.dynamo.endpoint, faultTarget: 'DynamoDB_20120810.BatchWriteItem', faultRate: 1, kinds: [kind], seed: 1,
    });
    const client = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: proxy.endpoint, maxAttempts: 1 });
    const keys = Array.from({ length: 25 }, (_, i) => `2024-01-01T00:00:${String(i).padStart(2, '0')}.000Z`);
    try {
      const out = await client.send(new BatchWriteItemCommand({
        RequestItems: {
          [tableName]: keys.map((t) => ({ PutRequest: { Item: { SensorId: { S: kind }, Timestamp: { S: t }, Value: { N: '1' } } } })),
        },
      })).then((o) => ({ ok: o }), (err) => ({ err: err as { name: string; $metadata: { httpStatusCode?: number } } }));
      const stored = (await aws.scanTable(tableName)).filter((i) => i.SensorId.S === kind).map((i) => i.Timestamp.S!);
      return { out, stored, keys, counts: proxy.counts };
    } finally {
      client.destroy();
      await proxy.close();
    }
  }

  beforeAll(() => aws.createSensorTable('fault-proxy-check'));

  test('unprocessed: the items it returns as UnprocessedItems were really not written, the others were', async () => {
    const { out, stored, keys, counts } = await oneCall('unprocessed', 'fault-proxy-check');
    expect('ok' in out).toBe(true);
    const unprocessed = ('ok' in out ? out.ok.UnprocessedItems?.['fault-proxy-check'] ?? [] : []).map((w) => w.PutRequest!.Item!.Timestamp.S!);
    expect(unprocessed.length).toBeGreaterThan(0);
    expect(unprocessed.length).toBe(counts.itemsStripped);
    expect([...stored, ...unprocessed].sort()).toEqual(keys);
    expect(stored.filter((k) => unprocessed.includes(k))).toEqual([]);
  });

  test('throttle and 500: nothing forwarded, the SDK sees the DynamoDB errors', async () => {
    const throttled = await oneCall('throttle', 'fault-proxy-check');
    expect('err' in throttled.out && throttled.out.err.name).toBe('ProvisionedThroughputExceededException');
    expect('err' in throttled.out && throttled.out.err.$metadata.httpStatusCode).toBe(400);
    const failed = await oneCall('error500', 'fault-proxy-check');
    expect('err' in failed.out && failed.out.err.$metadata.httpStatusCode).toBe(500);
    expect(throttled.stored).toEqual([]);
    expect(failed.stored).toEqual([]);
    expect(throttled.counts.itemsForwarded + failed.counts.itemsForwarded).toBe(0);
  });

  test('reset: the write happens, the answer is lost', async () => {
    const { out, stored, keys } = await oneCall('reset', 'fault-proxy-check');
    expect('err' in out).toBe(true);
    expect(stored).toEqual(keys);
  });
});

describe('10,000 readings through the fault proxy', () => {
  test('every valid reading is stored exactly once and every malformed record is dead-lettered', async () => {
    const tableName = 'sensor-data-faults';
    await aws.createSensorTable(tableName);
    const records = makeDeviceRecords({ count: 10_000, malformedEvery: 100, sensors: 40, seed: 7 });
    const { streamName, sequenceNumbers } = await streamWith(records);
    const malformedSeqs = new Map(records.flatMap((r, i) => (r.malformed ? [[sequenceNumbers[i], r] as const] : [])));
    expect(malformedSeqs.size).toBe(100);

    const proxy = await FaultProxy.start({
      target: aws.dynamo.endpoint,
      faultTarget: 'DynamoDB_20120810.BatchWriteItem',
      faultRate: 0.3,
      kinds: ['unprocessed', 'throttle', 'error500'],
      seed: 42,
    });
    try {
      restoreEnv = setEnv(aws.handlerEnv({
        AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
        TABLE_NAME: tableName,
        DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/faults/`,
        METRICS_MODE: 'NONE',
      }));
      const processor = loadBundle<typeof Processor>('processor');
      const deps = { ...processor.depsFromEnv(process.env), writeOptions: { retry: FAST_RETRY } };
      const totals = { batchWriteCalls: 0, handlerRetries: 0, reportedFailures: 0, deadLettered: 0 };
      const deliveries = new Map<string, number>();
      const started = Date.now();
      const mapping = await runEventSourceMapping(aws.shardReader(streamName), async (event) => {
        for (const r of event.Records) deliveries.set(r.kinesis.sequenceNumber, (deliveries.get(r.kinesis.sequenceNumber) ?? 0) + 1);
        const context = fakeContext(60_000);
        const { batchItemFailures, summary } = await processor.processBatch(event, deps, () => context.getRemainingTimeInMillis());
        totals.batchWriteCalls += summary.batchWriteCalls;
        totals.handlerRetries += summary.retries;
        totals.deadLettered += summary.deadLettered;
        if (batchItemFailures.length > 0) totals.reportedFailures++;
        return { batchItemFailures };
      }, { batchSize: BATCH_SIZE, maxRetriesPerPosition: 20 });
      const elapsedMs = Date.now() - started;

      const stored = await expectTableToHoldExactly(tableName, records);
      const deadLetters = await readDeadLetters('faults/');
      const lettered = new Set(deadLetters.lines.map((l) => l.sequenceNumber));
      expect([...lettered].sort()).toEqual([...malformedSeqs.keys()].sort());
      for (const line of deadLetters.lines) {
        const source = malformedSeqs.get(line.sequenceNumber)!;
        expect(line.reason).toContain(MALFORMED_REASONS[source.malformed!]);
        expect(line.shardId).toBe(SHARD_ID);
        expect(line.partitionKey).toBe(source.partitionKey);
        expect(line.payload).toBe(source.data);
        expect(Math.abs(Date.parse(line.approximateArrivalTimestamp) - Date.now())).toBeLessThan(600_000);
      }
      // Each malformed record is lettered once, however often a retry delivered it again:
      // a letter is sent only when the checkpoint moves past its record.
      const letterCounts = new Map<string, number>();
      for (const l of deadLetters.lines) letterCounts.set(l.sequenceNumber, (letterCounts.get(l.sequenceNumber) ?? 0) + 1);
      expect([...letterCounts].filter(([, n]) => n !== 1)).toEqual([]);
      const malformedDeliveries = [...malformedSeqs.keys()].reduce((n, seq) => n + deliveries.get(seq)!, 0);
      expect(malformedDeliveries).toBeGreaterThan(malformedSeqs.size);

      const counts = proxy.counts;
      const bwCalls = counts.calls['DynamoDB_20120810.BatchWriteItem'];
      console.log([
        '10,000-reading run through the fault proxy (30 % of BatchWriteItem calls faulted, seed 42):',
        `  records ${records.length}, valid ${records.length - malformedSeqs.size}, malformed ${malformedSeqs.size}`,
        `  BatchWriteItem HTTP calls seen by the proxy: ${bwCalls} (handler-level calls ${totals.batchWriteCalls}, the rest are SDK retries)`,
        `  faults injected: ${proxy.totalFaults} = unprocessed ${counts.faults.unprocessed} (${counts.itemsStripped} items stripped),` +
          ` throttle ${counts.faults.throttle}, HTTP 500 ${counts.faults.error500}`,
        `  handler retries (backoff) ${totals.handlerRetries}; invocations reporting a batch item failure ${totals.reportedFailures}`,
        `  event source mapping: invocations ${mapping.invocations}, redeliveries ${mapping.partialRedeliveries},` +
          ` records delivered ${mapping.recordsDelivered}`,
        `  table items ${stored} (expected ${records.length - malformedSeqs.size}); put requests forwarded to dynalite ${counts.itemsForwarded}`,
        `  dead letters: ${deadLetters.lines.length} lines in ${deadLetters.objects} objects, ${lettered.size} distinct sequence numbers` +
          ` (malformed records were delivered ${malformedDeliveries} times in all)`,
        `  wall time ${elapsedMs} ms`,
      ].join('\n'));

      // The faults were real and the recovery paths ran.
      expect(counts.faults.unprocessed).toBeGreaterThan(0);
      expect(counts.faults.throttle).toBeGreaterThan(0);
      expect(counts.faults.error500).toBeGreaterThan(0);
      expect(proxy.totalFaults / bwCalls).toBeGreaterThan(0.2);
      expect(proxy.totalFaults / bwCalls).toBeLessThan(0.4);
      expect(mapping.partialRedeliveries).toBeGreaterThan(0);
      expect(mapping.partialRedeliveries).toBe(totals.reportedFailures);
      expect(mapping.recordsDelivered).toBeGreaterThan(records.length);
    } finally {
      await proxy.close();
    }
  }, 240_000);
});

describe('records a service would refuse, among valid neighbours on one partition key', () => {
  test('a number DynamoDB cannot hold or an id UTF-8 cannot encode is dead-lettered alone; every neighbour is stored, nothing fails', async () => {
    const tableName = 'sensor-data-limits';
    await aws.createSensorTable(tableName);
    const at = (i: number) => new Date(Date.UTC(2024, 0, 2, 3, 4, i)).toISOString();
    const payloads: Array<{ text: string; stored?: { sensorId: string; timestamp: string; value: number } }> = [];
    for (let i = 0; i < 40; i++) {
      const sensorId = i % 10 === 3 ? `s\uffff${i}` : `s${i}`; // U+FFFF is valid UTF-8: DynamoDB stores it
      payloads.push({ text: JSON.stringify({ sensorid: sensorId, value: i, timestamp: at(i) }), stored: { sensorId, timestamp: at(i), value: i } });
      if (i % 6 === 0) {
        // one crafted record after every sixth valid one, each in the same request of 25 as valid items
        const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
        const crafted = [`{"sensorid":"x${i}","value":1e200,"timestamp":"${at(i)}"}`, `{"sensorid":"x${i}","value":-1e-200,"timestamp":"${at(i)}"}`,
          `{"sensorid":"x${i}","value":1e-400,"timestamp":"${at(i)}"}`, `{"sensorid":"x\\ud800${i}","value":1,"timestamp":"${at(i)}"}`,
          `{"sensorid":"x${i}","value":"1e126","timestamp":"${at(i)}"}`, `{"sensorid":"x${i}","value":${deep},"timestamp":"${at(i)}"}`][(i / 6) % 6];
        payloads.push({ text: crafted });
      }
    }
    const records: DeviceRecord[] = payloads.map((p) => ({ partitionKey: 'one-key', data: p.text, ...(p.stored ? { expected: p.stored } : {}) }) as DeviceRecord);
    const { streamName, sequenceNumbers } = await streamWith(records);
    restoreEnv = setEnv(aws.handlerEnv({ TABLE_NAME: tableName, DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/limits/`, METRICS_MODE: 'NONE' }));
    const processor = loadBundle<typeof Processor>('processor');
    const deps = processor.depsFromEnv(process.env);
    let reported = 0;
    await runEventSourceMapping(aws.shardReader(streamName), async (event) => {
      const out = await processor.processBatch(event, deps, () => 60_000);
      reported += out.batchItemFailures.length;
      return out;
    }, { batchSize: 25, maxRetriesPerPosition: 3 });
    expect(reported).toBe(0);
    await expectTableToHoldExactly(tableName, records);
    const { lines } = await readDeadLetters('limits/');
    const crafted = payloads.flatMap((p, i) => (p.stored ? [] : [sequenceNumbers[i]]));
    expect(lines.map((l) => l.sequenceNumber).sort()).toEqual(crafted.sort());
    expect(lines.map((l) => l.reason)).toEqual(expect.arrayContaining([
      expect.stringMatching(/larger in magnitude than DynamoDB/), expect.stringMatching(/smaller in magnitude than DynamoDB/),
      expect.stringMatching(/too small in magnitude to be read/), expect.stringMatching(/lone surrogate/),
      'invalid field "value": an array of 1 (a finite number is required)',
    ]));
  });
});

describe('a crash in the middle of a batch', () => {
  test('the invocation dies after part of the chunks were written; the mapping retries the whole batch; every reading is stored once', async () => {
    const tableName = 'sensor-data-crash';
    await aws.createSensorTable(tableName);
    // Two batches; the crash is in the second, so the retry starts mid-stream.
    const records = makeDeviceRecords({ count: 2 * BATCH_SIZE, malformedEvery: 0, sensors: 12, seed: 11 });
    const { streamName, sequenceNumbers } = await streamWith(records);
    restoreEnv = setEnv(aws.handlerEnv({ TABLE_NAME: tableName, DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/crash/`, METRICS_MODE: 'NONE' }));

    /**
     * A sandbox whose DynamoDB client lets `survive` BatchWriteItem calls
     * through; at the next one the sandbox dies: that call never returns and
     * the invocation fails, as when the runtime is killed. The writer has
     * several calls in flight; the sandbox dies once those that went through
     * have reached the table, so that what the crash left behind is known.
     */
    const dyingSandbox = (survive: number) => {
      const bundle = loadBundle<typeof Processor>('processor');
      const deps = bundle.depsFromEnv(process.env);
      const real = deps.dynamodb;
      let calls = 0;
      const through: Array<Promise<unknown>> = [];
      let crash!: (err: Error) => void;
      const crashed = new Promise<never>((_, reject) => { crash = reject; });
      const dynamodb = new Proxy(real, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return (command: Parameters<typeof real.send>[0]) => {
            if (++calls > survive) {
              if (calls === survive + 1) {
                void Promise.allSettled(through).then(() => crash(new Error('Runtime exited with error: signal: killed')));
              }
              return new Promise(() => undefined);
            }
            const call = target.send(command);
            through.push(call);
            return call;
          };
        },
      });
      return (event: KinesisStreamEvent) => {
        const context = fakeContext(60_000);
        return Promise.race([bundle.processBatch(event, { ...deps, dynamodb }, () => context.getRemainingTimeInMillis()), crashed]);
      };
    };

    // Sandbox 1 handles the first batch; sandbox 2 dies 7 chunks into the second;
    // the retry goes to sandbox 3, a cold start of the bundled handler.
    const first = dyingSandbox(Number.POSITIVE_INFINITY);
    const second = dyingSandbox(7);
    let third: typeof Processor | undefined;
    const seen: Array<{ first: string; records: number; outcome: string; stored: number }> = [];
    const mapping = await runEventSourceMapping(aws.shardReader(streamName), async (event) => {
      const head = event.Records[0].kinesis.sequenceNumber;
      const attempt = seen.filter((s) => s.first === head).length;
      const invoke = head === sequenceNumbers[0] ? first
        : attempt === 0 ? second
          : (e: KinesisStreamEvent) => (third ??= loadBundle<typeof Processor>('processor')).handler(e, fakeContext(60_000)) as Promise<KinesisStreamBatchResponse>;
      try {
        const response = await invoke(event);
        seen.push({ first: head, records: event.Records.length, outcome: 'ok', stored: (await aws.scanTable(tableName)).length });
        return response;
      } catch (err) {
        seen.push({ first: head, records: event.Records.length, outcome: (err as Error).message, stored: (await aws.scanTable(tableName)).length });
        throw err;
      }
    }, { batchSize: BATCH_SIZE });

    expect(seen).toEqual([
      { first: sequenceNumbers[0], records: BATCH_SIZE, outcome: 'ok', stored: BATCH_SIZE },
      // Seven chunks of 25 of the second batch were written when the sandbox died.
      { first: sequenceNumbers[BATCH_SIZE], records: BATCH_SIZE, outcome: 'Runtime exited with error: signal: killed', stored: BATCH_SIZE + 7 * 25 },
      { first: sequenceNumbers[BATCH_SIZE], records: BATCH_SIZE, outcome: 'ok', stored: 2 * BATCH_SIZE },
    ]);
    expect(mapping).toEqual({ invocations: 3, partialRedeliveries: 0, wholeBatchRetries: 1, recordsDelivered: 3 * BATCH_SIZE });
    expect(await expectTableToHoldExactly(tableName, records)).toBe(2 * BATCH_SIZE);
  });

  test('connections cut after the write reached DynamoDB (the answer is lost): retries rewrite, nothing is doubled or lost', async () => {
    const tableName = 'sensor-data-reset';
    await aws.createSensorTable(tableName);
    const records = makeDeviceRecords({ count: 1_500, malformedEvery: 0, sensors: 30, seed: 5 });
    const { streamName } = await streamWith(records);
    const proxy = await FaultProxy.start({
      target: aws.dynamo.endpoint,
      faultTarget: 'DynamoDB_20120810.BatchWriteItem',
      faultRate: 0.25,
      kinds: ['reset'],
      seed: 3,
    });
    try {
      restoreEnv = setEnv(aws.handlerEnv({
        AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
        TABLE_NAME: tableName,
        DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/reset/`,
        METRICS_MODE: 'NONE',
      }));
      const processor = loadBundle<typeof Processor>('processor');
      const mapping = await runEventSourceMapping(aws.shardReader(streamName),
        (event) => processor.handler(event, fakeContext(60_000)) as Promise<KinesisStreamBatchResponse>, { batchSize: BATCH_SIZE });
      expect(proxy.counts.faults.reset).toBeGreaterThan(0);
      // Items of the cut calls were written, then written again by the retry.
      expect(proxy.counts.itemsForwarded).toBeGreaterThan(records.length);
      expect(mapping.invocations).toBeGreaterThanOrEqual(3);
      expect(await expectTableToHoldExactly(tableName, records)).toBe(records.length);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * Readings for `sensors` sensors over `minutes` minutes, two per sensor-minute:
 * the same value twice in even groups, two different values in odd ones.
 */
function sensorMinuteRecords(sensors: number, minutes: number, start: number): {
  records: StreamRecord[];
  expected: Map<string, Map<number, number>>;
} {
  const records: StreamRecord[] = [];
  const expected = new Map<string, Map<number, number>>();
  let seq = 0n;
  let group = 0;
  for (let m = 0; m < minutes; m++) {
    for (let s = 0; s < sensors; s++, group++) {
      const sensorId = `ws-${String(s).padStart(4, '0')}`;
      const minute = start + m * 60_000;
      const values = group % 2 === 0 ? [group / 2, group / 2] : [group + 0.5, -group];
      const counts = new Map<number, number>();
      values.forEach((value, k) => {
        counts.set(value, (counts.get(value) ?? 0) + 1);
        const payload = { sensorid: sensorId, timestamp: new Date(minute + (k + 1) * 1_000 + s).toISOString(), value };
        records.push({
          sequenceNumber: (49650000000000000000000000000000000000000000000000000000n + seq++).toString(),
          partitionKey: sensorId,
          data: Buffer.from(JSON.stringify(payload)),
          approximateArrivalTimestamp: Date.now(),
        });
      });
      expected.set(`${sensorId}|${minute}`, counts);
    }
  }
  return { records, expected };
}

describe('metrics', () => {
  test('PUT_METRIC_DATA: one datum per sensor-minute, at most 1,000 per call, to namespace Sensors', async () => {
    const tableName = 'sensor-data-pmd';
    await aws.createSensorTable(tableName);
    const cloudwatch = await FakeCloudWatch.start();
    try {
      restoreEnv = setEnv(aws.handlerEnv({
        AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.endpoint,
        TABLE_NAME: tableName,
        DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/pmd/`,
        METRICS_MODE: 'PUT_METRIC_DATA',
      }));
      const processor = loadBundle<typeof Processor>('processor');
      // 1,100 sensor-minutes (110 sensors x 10 minutes), two readings each, in one batch of 2,200,
      // of the last hour: minutes CloudWatch takes as they are.
      const start = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000;
      const { records, expected } = sensorMinuteRecords(110, 10, start);
      const event: KinesisStreamEvent = toKinesisEvent(records, { streamName: 'metrics-stream' });
      const response = await processor.handler(event, fakeContext(60_000)) as KinesisStreamBatchResponse;
      expect(response.batchItemFailures).toEqual([]);

      expect(cloudwatch.requests).toHaveLength(2);
      for (const r of cloudwatch.requests) {
        expect(r.target).toBe('GraniteServiceVersion20100801.PutMetricData');
        expect(r.body.Namespace).toBe('Sensors');
      }
      expect(cloudwatch.requests.map((r) => r.body.MetricData.length)).toEqual([1_000, 100]);
      // Over 10 KB, the SDK compresses the request.
      expect(cloudwatch.requests[0].contentEncoding).toBe('gzip');

      const seen = new Map<string, Map<number, number>>();
      for (const datum of cloudwatch.requests.flatMap((r) => r.body.MetricData)) {
        expect(datum.MetricName).toBe('SensorData');
        expect(datum.Unit).toBe('None');
        expect(datum.Dimensions).toHaveLength(1);
        expect(datum.Dimensions[0].Name).toBe('SensorId');
        expect(datum.Values.length).toBe(datum.Counts.length);
        const key = `${datum.Dimensions[0].Value}|${datum.Timestamp * 1000}`;
        expect(seen.has(key)).toBe(false);
        seen.set(key, new Map(datum.Values.map((v, i) => [v, datum.Counts[i]])));
      }
      expect(seen.size).toBe(expected.size);
      expect(seen).toEqual(expected);
      expect((await aws.scanTable(tableName)).length).toBe(records.length);
    } finally {
      await cloudwatch.close();
    }
  });

  test('EMF: no API call; one EMF line per sensor-minute on stdout, with the sensor dimension', async () => {
    const tableName = 'sensor-data-emf';
    await aws.createSensorTable(tableName);
    const cloudwatch = await FakeCloudWatch.start();
    const written: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(chunk.toString());
      return true;
    });
    try {
      restoreEnv = setEnv(aws.handlerEnv({
        AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.endpoint,
        TABLE_NAME: tableName,
        DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/emf/`,
        METRICS_MODE: 'EMF',
        POWERTOOLS_DEV: undefined,
        POWERTOOLS_METRICS_DISABLED: undefined,
      }));
      const processor = loadBundle<typeof Processor>('processor');
      // Recent minutes: EMF takes timestamps up to two weeks old.
      const start = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
      const { records, expected } = sensorMinuteRecords(15, 4, start);
      const response = await processor.handler(toKinesisEvent(records, { streamName: 'emf-stream' }), fakeContext(60_000)) as KinesisStreamBatchResponse;
      write.mockRestore();
      expect(response.batchItemFailures).toEqual([]);

      const emf = written.join('').split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
      expect(emf).toHaveLength(expected.size);
      const seen = new Map<string, Map<number, number>>();
      for (const line of emf) {
        const directive = line._aws.CloudWatchMetrics;
        expect(directive).toEqual([{ Namespace: 'Sensors', Dimensions: [['SensorId']], Metrics: [{ Name: 'SensorData', Unit: 'None' }] }]);
        const values: number[] = Array.isArray(line.SensorData) ? line.SensorData : [line.SensorData];
        const counts = new Map<number, number>();
        for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
        seen.set(`${line.SensorId}|${line._aws.Timestamp}`, counts);
      }
      expect(seen).toEqual(expected);
      expect(cloudwatch.requests).toHaveLength(0);
      expect((await aws.scanTable(tableName)).length).toBe(records.length);
    } finally {
      write.mockRestore();
      await cloudwatch.close();
    }
  });
});

describe('the bundle', () => {
  test('is the file that ships, and loading it fails clearly when it is missing', () => {
    const processor = loadBundle<typeof Processor>('processor');
    expect(typeof processor.handler).toBe('function');
    expect(typeof processor.processBatch).toBe('function');
    expect(() => loadBundle('nonexistent' as 'processor')).toThrow(/is missing: .*nonexistent\.lambda\/index\.js\. Run `npx projen bundle` first/);
  });
});
