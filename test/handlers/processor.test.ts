import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudWatchClient, PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import type { BatchWriteItemCommandInput, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { asClient, b64, b64json, FakeClient } from './helpers';
import { BucketDeadLetterSink, DeadLetter, DeadLetterSink, QueueDeadLetterSink } from '../../src/handlers/dead-letter';
import { depsFromEnv, processBatch, ProcessorDeps } from '../../src/handlers/processor.lambda';
import { DEFAULT_MAPPING } from '../../src/handlers/reading';
import { DEFAULT_WRITE_CONCURRENCY } from '../../src/handlers/table-writer';

const TABLE = 'SensorData';
const SHARD = 'shardId-000000000000';
const BASE_SEQ = 49590338271490256608559692538361571095921575989136588898n;

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

function kinesisRecord(i: number, data: string): KinesisStreamRecord {
  const sequenceNumber = (BASE_SEQ + BigInt(i)).toString();
  return {
    awsRegion: 'eu-west-1',
    eventID: `${SHARD}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    eventSource: 'aws:kinesis',
    eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/sensors',
    eventVersion: '1.0',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/processor',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: `pk-${i}`,
      sequenceNumber,
      data,
      approximateArrivalTimestamp: Date.UTC(2024, 0, 2, 3, 5) / 1000,
    },
  };
}

const seq = (i: number) => (BASE_SEQ + BigInt(i)).toString();
const valid = (sensor: string, value: number, second = 0) =>
  b64json({ sensorid: sensor, value: String(value), timestamp: new Date(Date.UTC(2024, 0, 2, 3, 4, second)).toISOString() });
const event = (data: string[]): KinesisStreamEvent => ({ Records: data.map((d, i) => kinesisRecord(i, d)) });

class FakeSink implements DeadLetterSink {
  public readonly received: DeadLetter[][] = [];
  constructor(private readonly undeliverable: (letter: DeadLetter) => boolean = () => false) {}
  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    this.received.push([...letters]);
    return letters.filter(this.undeliverable);
  }
}

const itemsOf = (input: BatchWriteItemCommandInput) => input.RequestItems![TABLE].map((r) => r.PutRequest!.Item!);

/** DynamoDB that never processes the items of the given sensors. */
function dynamoRejecting(...sensors: string[]): FakeClient {
  return new FakeClient([], (input: BatchWriteItemCommandInput) => {
    const left: WriteRequest[] = input.RequestItems![TABLE].filter((r) => sensors.includes(r.PutRequest!.Item!.SensorId.S!));
    return { UnprocessedItems: left.length > 0 ? { [TABLE]: left } : {} };
  });
}

type TestDeps = ProcessorDeps & { dynamo: FakeClient; cw: FakeClient; sink: FakeSink };

function makeDeps(overrides: Partial<ProcessorDeps> & { dynamo?: FakeClient; cw?: FakeClient } = {}): TestDeps {
  const dynamo = overrides.dynamo ?? new FakeClient();
  const cw = overrides.cw ?? new FakeClient();
  const sink = (overrides.deadLetters as FakeSink | undefined) ?? new FakeSink();
  return {
    tableName: TABLE,
    dynamodb: asClient<DynamoDBClient>(dynamo),
    mapping: DEFAULT_MAPPING,
    deadLetters: sink,
    metricsMode: 'PUT_METRIC_DATA',
    metricSettings: { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId' },
    cloudwatch: asClient<CloudWatchClient>(cw),
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    writeOptions: { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 }, sleep: async () => {}, random: () => 0 },
    ...overrides,
    dynamo,
    cw,
    sink,
  };
}

const plenty = () => 60_000;

describe('processBatch', () => {
  test('a mixed batch: invalid records are dead-lettered with their reason, valid ones stored, no failure', async () => {
    const deps = makeDeps();
    const out = await processBatch(event([
      valid('s1', 21.5),
      b64('{"sensorid": "s1", "value": '),
      valid('s2', 40),
      b64json({ value: 1, timestamp: '2024-01-02T03:04:05Z' }),
      Buffer.from([0xff, 0xfe]).toString('base64'),
    ]), deps, plenty);

    expect(out.batchItemFailures).toEqual([]);
    expect(deps.sink.received).toHaveLength(1);
    expect(deps.sink.received[0].map((l) => [l.sequenceNumber, l.reason])).toEqual([
      [seq(1), 'payload is not valid JSON'],
      [seq(3), expect.stringMatching(/missing field "sensorid"/)],
      [seq(4), 'payload is not valid UTF-8'],
    ]);
    expect(deps.sink.received[0][0]).toMatchObject({ shardId: SHARD, partitionKey: 'pk-1', data: b64('{"sensorid": "s1", "value": ') });

    expect(deps.dynamo.inputs).toHaveLength(1);
    expect(itemsOf(deps.dynamo.inputs[0])).toEqual([
      { SensorId: { S: 's1' }, Timestamp: { S: '2024-01-02T03:04:00.000Z' }, Value: { N: '21.5' } },
      { SensorId: { S: 's2' }, Timestamp: { S: '2024-01-02T03:04:00.000Z' }, Value: { N: '40' } },
    ]);

    const metricInputs = deps.cw.inputs as PutMetricDataCommandInput[];
    expect(metricInputs).toHaveLength(1);
    expect(metricInputs[0].Namespace).toBe('Sensors');
    expect(metricInputs[0].MetricData!.map((d) => [d.Dimensions![0].Value, d.Values, d.Counts])).toEqual([['s1', [21.5], [1]], ['s2', [40], [1]]]);
    expect(out.summary).toEqual({
      records: 5,
      readings: 2,
      stored: 2,
      deadLettered: 3,
      readingsDeadLettered: 3,
      failedRecords: 0,
      batchWriteCalls: 1,
      retries: 0,
      metricCalls: 1,
      // readings of 2024 are older than CloudWatch takes: counted at the time they are processed
      metricValuesSkipped: 0,
      metricValuesRestamped: 2,
      metricCallsFailed: 0,
    });
  });

  test('a dead letter is sent once: only for records the checkpoint moves past, none from the first failed record on', async () => {
    // s2 is never written: records 2 to 5 come again with the retry, and with them the invalid records 3 and 5.
    const deps = makeDeps({ dynamo: dynamoRejecting('s2') });
    const data = [b64('bad 0'), valid('s1', 1), valid('s2', 2), b64('bad 3'), valid('s4', 4), b64('bad 5')];
    const out = await processBatch(event(data), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(deps.sink.received.flat().map((l) => l.sequenceNumber)).toEqual([seq(0)]);
    expect(out.summary.deadLettered).toBe(1);

    // The retry delivers records 2 to 5, and the table takes them now: each dead letter has been sent exactly once.
    const retry = makeDeps({ deadLetters: deps.sink });
    const again = await processBatch({ Records: event(data).Records.slice(2) }, retry, plenty);
    expect(again.batchItemFailures).toEqual([]);
    expect(deps.sink.received.flat().map((l) => l.sequenceNumber)).toEqual([seq(0), seq(3), seq(5)]);
  });

  test('dead letters wait for the writes: a record they fail is known before any letter is sent', async () => {
    const dynamo = dynamoRejecting('s0');
    let writesBeforeLetters = -1;
    const sink: DeadLetterSink = {
      send: async () => {
        writesBeforeLetters = dynamo.inputs.length;
        return [];
      },
    };
    const deps = makeDeps({ dynamo, deadLetters: sink as FakeSink });
    const out = await processBatch(event([b64('not json'), valid('s0', 1), b64('not json either')]), deps, plenty);
    expect(writesBeforeLetters).toBe(3); // every attempt at s0 was made first
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
  });

  test('a write failure on record k reports k and counts metrics only for the records before it', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('s2') });
    const out = await processBatch(event([0, 1, 2, 3, 4].map((i) => valid(`s${i}`, i))), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    // three attempts, then given up; the retries carry only the unprocessed item
    expect(deps.dynamo.inputs.map((i) => itemsOf(i).map((item) => item.SensorId.S))).toEqual([['s0', 's1', 's2', 's3', 's4'], ['s2'], ['s2']]);
    const data = (deps.cw.inputs as PutMetricDataCommandInput[]).flatMap((i) => i.MetricData!);
    expect(data.map((d) => d.Dimensions![0].Value)).toEqual(['s0', 's1']);
    expect(out.summary).toMatchObject({ records: 5, readings: 5, stored: 2, failedRecords: 1, batchWriteCalls: 3, retries: 2, metricCalls: 1 });
  });

  test('a failure on the first record: no metrics at all', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('s0') });
    const out = await processBatch(event([valid('s0', 1), valid('s1', 1)]), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(0) }]);
    expect(deps.cw.inputs).toHaveLength(0);
    expect(out.summary.metricCalls).toBe(0);
  });

  test('several failures: the first one is reported', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('s3', 's1') });
    const out = await processBatch(event([0, 1, 2, 3].map((i) => valid(`s${i}`, i))), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
    expect(out.summary.failedRecords).toBe(2);
  });

  describe('records of many readings', () => {
    const at = (second: number) => new Date(Date.UTC(2024, 0, 2, 3, 4, second)).toISOString();
    const arrays = { ...DEFAULT_MAPPING, acceptArrays: true, readingsField: 'readings' };
    const array = (...items: unknown[]) => b64json(items);

    test('each reading judged alone: the valid ones stored, one letter per record naming each refused reading, the record raw', async () => {
      const deps = makeDeps({ mapping: arrays });
      const batch = b64json({ gateway: 'g1', timestamp: at(5), readings: [{ sensorid: 'b1', value: 1 }, { value: 2 }, { sensorid: 'b3', value: 3 }] });
      const out = await processBatch(event([
        array({ sensorid: 'a1', value: 1, timestamp: at(1) }, { sensorid: 'a2', value: 'n/a', timestamp: at(1) }, { sensorid: 'a3', value: 3, timestamp: at(1) }),
        batch,
        valid('c1', 7),
        array({ sensorid: 'd1', value: 1, timestamp: at(2) }),
      ]), deps, plenty);
      expect(out.batchItemFailures).toEqual([]);
      expect(deps.dynamo.inputs.flatMap(itemsOf).map((i) => i.SensorId.S)).toEqual(['a1', 'a3', 'b1', 'b3', 'c1', 'd1']);
      const letters = deps.sink.received.flat();
      expect(letters.map((l) => [l.sequenceNumber, l.reason, l.invalidReadings])).toEqual([
        [seq(0), 'reading 1: invalid field "value": "n/a" (a finite number is required)', [{ index: 1, reason: 'invalid field "value": "n/a" (a finite number is required)' }]],
        [seq(1), 'reading 1: missing field "sensorid" (a non-empty string is required)', [{ index: 1, reason: 'missing field "sensorid" (a non-empty string is required)' }]],
      ]);
      expect(letters[1].data).toBe(batch);
      expect(out.summary).toMatchObject({ records: 4, readings: 6, stored: 6, deadLettered: 2, readingsDeadLettered: 2, failedRecords: 0 });
    });

    test('several refused readings of one record: one letter, each listed, the reason names the first and the count', async () => {
      const deps = makeDeps({ mapping: arrays });
      await processBatch(event([array(1, { sensorid: 'ok', value: 1, timestamp: at(0) }, 'x', [])]), deps, plenty);
      const [letter] = deps.sink.received.flat();
      expect(letter.reason).toBe('3 readings refused; the first, reading 0: reading is not a JSON object');
      expect(letter.invalidReadings!.map((r) => r.index)).toEqual([0, 2, 3]);
    });

    test('under redelivery each reading is stored or dead-lettered once: a record whose readings are not all written is retried with its letter', async () => {
      // b2 is not written: record 1 comes again, with its refused reading; record 0's letter is sent once.
      const deps = makeDeps({ mapping: arrays, dynamo: dynamoRejecting('b2') });
      const data = [
        array({ sensorid: 'a1', value: 1, timestamp: at(1) }, { sensorid: 'a2', timestamp: at(1) }),
        array({ sensorid: 'b1', value: 1, timestamp: at(2) }, { sensorid: 'b2', value: 2, timestamp: at(2) }, { value: 3 }),
        array({ sensorid: 'c1', value: 1, timestamp: at(3) }),
      ];
      const out = await processBatch(event(data), deps, plenty);
      expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
      expect(deps.sink.received.flat().map((l) => l.sequenceNumber)).toEqual([seq(0)]);
      // only the finished record's readings count in the metric
      expect((deps.cw.inputs as PutMetricDataCommandInput[]).flatMap((i) => i.MetricData!).map((d) => d.Dimensions![0].Value)).toEqual(['a1']);
      expect(out.summary).toMatchObject({ stored: 1, deadLettered: 1, readingsDeadLettered: 1, failedRecords: 1 });

      const retry = makeDeps({ mapping: arrays, deadLetters: deps.sink });
      const again = await processBatch({ Records: event(data).Records.slice(1) }, retry, plenty);
      expect(again.batchItemFailures).toEqual([]);
      const sent = deps.sink.received.flat().map((l) => [l.sequenceNumber, l.invalidReadings?.map((r) => r.index)]);
      expect(sent).toEqual([[seq(0), [1]], [seq(1), [2]]]);
      // the rewrite of b1 is a put of the same key: one row, whatever the number of deliveries
      expect(retry.dynamo.inputs.flatMap(itemsOf).map((i) => i.SensorId.S)).toEqual(['b1', 'b2', 'c1']);
    });

    test('a record whose readings repeat a key within the batch is stored once, the last value winning, and finishes with both records', async () => {
      const deps = makeDeps({ mapping: arrays });
      const out = await processBatch(event([
        array({ sensorid: 's', value: 1, timestamp: at(1) }, { sensorid: 's', value: 2, timestamp: at(1) }),
        array({ sensorid: 's', value: 3, timestamp: at(1) }),
      ]), deps, plenty);
      expect(out.batchItemFailures).toEqual([]);
      expect(deps.dynamo.inputs.flatMap(itemsOf)).toEqual([{ SensorId: { S: 's' }, Timestamp: { S: at(1) }, Value: { N: '3' } }]);
    });
  });

  test('a dead letter that cannot be delivered fails its record', async () => {
    const sink = new FakeSink((l) => l.sequenceNumber === seq(2));
    const deps = makeDeps({ deadLetters: sink });
    const warn = jest.spyOn(deps.logger, 'warn');
    const out = await processBatch(event([valid('s0', 1), b64('x'), b64('y'), valid('s3', 1)]), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(warn).toHaveBeenCalledWith('records sent to the dead-letter destination', { count: 1, readings: 1, undelivered: 1, firstReason: 'payload is not valid JSON' });
    // the valid records are stored anyway; only s0 comes before the failure
    expect(itemsOf(deps.dynamo.inputs[0]).map((i) => i.SensorId.S)).toEqual(['s0', 's3']);
    expect((deps.cw.inputs as PutMetricDataCommandInput[])[0].MetricData!.map((d) => d.Dimensions![0].Value)).toEqual(['s0']);
  });

  test('the earlier of a dead-letter failure and a write failure is reported', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('s1'), deadLetters: new FakeSink(() => true) });
    const out = await processBatch(event([valid('s0', 1), valid('s1', 1), b64('x')]), deps, plenty);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
    // the letter of record 2 comes again with the retry: not sent now
    expect(deps.sink.received).toEqual([]);
    const early = makeDeps({ dynamo: dynamoRejecting('s2'), deadLetters: new FakeSink(() => true) });
    const first = await processBatch(event([valid('s0', 1), b64('x'), valid('s2', 1)]), early, plenty);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
  });

  test('records with the same key are written once, the last value wins, and both records depend on it', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('dup') });
    const out = await processBatch(event([valid('a', 1), valid('dup', 1), valid('b', 2), valid('dup', 2)]), deps, plenty);
    const first = itemsOf(deps.dynamo.inputs[0]);
    expect(first.map((i) => [i.SensorId.S, i.Value.N])).toEqual([['a', '1'], ['dup', '2'], ['b', '2']]);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(1) }]);
  });

  test('measurement fields: one record, several readings, several metric data', async () => {
    const deps = makeDeps({ mapping: { ...DEFAULT_MAPPING, sensorIdField: 'deviceId', timestampField: 'ts', measurementFields: ['temperature', 'humidity'] } });
    const out = await processBatch(event([b64json({ deviceId: 'd1', ts: '2024-01-02T03:04:05Z', temperature: 21.5, humidity: 40 })]), deps, plenty);
    expect(out.batchItemFailures).toEqual([]);
    expect(itemsOf(deps.dynamo.inputs[0]).map((i) => i.SensorId.S)).toEqual(['d1#temperature', 'd1#humidity']);
    expect((deps.cw.inputs as PutMetricDataCommandInput[])[0].MetricData).toHaveLength(2);
  });

  test('no time left: no write is started and the batch reports the failure', async () => {
    const deps = makeDeps({ dynamo: dynamoRejecting('s0') });
    const out = await processBatch(event([valid('s0', 1)]), deps, () => 10);
    expect(deps.dynamo.inputs).toHaveLength(0);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(0) }]);
  });

  test('a failing PutMetricData does not fail the batch, and is counted', async () => {
    const deps = makeDeps({ cw: new FakeClient([() => new Error('throttled')]) });
    const error = jest.spyOn(deps.logger, 'error');
    const out = await processBatch(event([valid('s0', 1)]), deps, plenty);
    expect(out.batchItemFailures).toEqual([]);
    expect(error).toHaveBeenCalledTimes(1);
    expect(out.summary.metricCalls).toBe(0);
    expect(out.summary.metricCallsFailed).toBe(1);
  });

  test('PutMetricData: a value, a time or an id CloudWatch would refuse is held back or restamped, never sent, and counted', async () => {
    // Ids up to DynamoDB's 2,048 bytes: 1,500 characters is no dimension value.
    const deps = makeDeps({ mapping: { ...DEFAULT_MAPPING, maxSensorIdLength: 2_048 } });
    const now = Date.now();
    const at = (sensor: string, value: number, ms: number) => b64json({ sensorid: sensor, value, timestamp: new Date(ms).toISOString() });
    const out = await processBatch(event([
      at('s1', 1, now),
      at('capteur-\u00e9', 2, now),
      at('s1', 1e120, now), // DynamoDB holds it, CloudWatch does not
      at('old', 3, now - 30 * 24 * 3_600_000),
      at('ahead', 4, now + 5 * 3_600_000),
      at('x'.repeat(1_500), 5, now),
    ]), deps, plenty);
    expect(out.batchItemFailures).toEqual([]);
    expect(out.summary).toMatchObject({ stored: 6, metricValuesSkipped: 2, metricValuesRestamped: 2, metricCalls: 1, metricCallsFailed: 0 });
    const data = (deps.cw.inputs as PutMetricDataCommandInput[]).flatMap((i) => i.MetricData!);
    const sent = Date.now();
    for (const datum of data) {
      for (const d of datum.Dimensions!) expect(d.Value).toMatch(/^[\x20-\x7e]{1,1024}$/);
      const t = new Date(datum.Timestamp!).getTime();
      expect(t).toBeGreaterThanOrEqual(sent - 14 * 24 * 3_600_000);
      expect(t).toBeLessThanOrEqual(sent + 2 * 3_600_000);
      for (const v of datum.Values!) expect(v === 0 || (Math.abs(v) >= 8.51592e-109 && Math.abs(v) <= 1.174271e108)).toBe(true);
    }
    expect(data.map((d) => d.Dimensions![0].Value).sort()).toEqual(['ahead', 'capteur-%C3%A9', 'old', 's1']);
  });

  test('metrics mode NONE sends no metrics', async () => {
    const deps = makeDeps({ metricsMode: 'NONE' });
    await processBatch(event([valid('s0', 1)]), deps, plenty);
    expect(deps.cw.inputs).toHaveLength(0);
    expect(deps.dynamo.inputs).toHaveLength(1);
  });

  test('metrics mode EMF writes one line per sensor-minute, in one write', async () => {
    const writes: string[] = [];
    const deps = makeDeps({ metricsMode: 'EMF', emf: (text) => writes.push(text), cloudwatch: undefined });
    const now = new Date();
    const recent = (sensor: string, value: number) => b64json({ sensorid: sensor, value, timestamp: now.toISOString() });
    await processBatch(event([recent('s0', 1), recent('s0', 2), recent('s1', 3)]), deps, plenty);
    expect(writes).toHaveLength(1);
    expect(writes[0].endsWith('\n')).toBe(true);
    const emf = writes[0].trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(emf.map((l) => [l.SensorId, l.SensorData])).toEqual([['s0', [1, 2]], ['s1', 3]]);
    expect(deps.cw.inputs).toHaveLength(0);
  });

  test('metrics mode EMF writes nothing for a batch with no stored reading', async () => {
    const writes: string[] = [];
    const deps = makeDeps({ metricsMode: 'EMF', emf: (text) => writes.push(text), cloudwatch: undefined });
    await processBatch(event([b64('not json')]), deps, plenty);
    expect(writes).toEqual([]);
  });

  test('an empty batch does nothing', async () => {
    const deps = makeDeps();
    const out = await processBatch({ Records: [] }, deps, plenty);
    expect(out.batchItemFailures).toEqual([]);
    expect(deps.dynamo.inputs).toHaveLength(0);
    expect(deps.sink.received).toHaveLength(0);
    expect(deps.cw.inputs).toHaveLength(0);
  });
});

describe('depsFromEnv', () => {
  test('rejects a bad METRICS_MODE and a missing or unreadable dead-letter destination, naming the variable', () => {
    const queue = 'https://sqs.eu-west-1.amazonaws.com/123456789012/dead-letters';
    expect(() => depsFromEnv({ METRICS_MODE: 'LOUD', TABLE_NAME: 't', DEAD_LETTER_DESTINATION: queue }))
      .toThrow('environment variable METRICS_MODE must be one of EMF, PUT_METRIC_DATA, NONE, got "LOUD"');
    expect(() => depsFromEnv({ TABLE_NAME: 't' })).toThrow('environment variable DEAD_LETTER_DESTINATION is not set');
    expect(() => depsFromEnv({ TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 'dead-letters' }))
      .toThrow('environment variable DEAD_LETTER_DESTINATION must be an SQS queue URL or s3://<bucket>/<prefix>, got "dead-letters"');
    expect(() => depsFromEnv({ DEAD_LETTER_DESTINATION: queue })).toThrow('environment variable TABLE_NAME is not set');
  });

  test('reads settings without contacting AWS', () => {
    const deps = depsFromEnv({
      TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 's3://b/bad/', METRICS_MODE: 'NONE', METRIC_DIMENSION_NAME: 'Device', PAYLOAD_SENSOR_ID_FIELD: 'deviceId',
    });
    expect(deps.tableName).toBe('t');
    expect(deps.metricsMode).toBe('NONE');
    expect(deps.metricSettings).toEqual({ namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'Device' });
    expect(deps.mapping.sensorIdField).toBe('deviceId');
    expect(deps.cloudwatch).toBeUndefined();
    expect(deps.emf).toBeUndefined();
    expect(deps.deadLetters).toBeInstanceOf(BucketDeadLetterSink);
    expect(deps.deadLetters).toMatchObject({ bucket: 'b', prefix: 'bad/' });
    const queued = depsFromEnv({ TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 'https://sqs.eu-west-1.amazonaws.com/1/q' });
    expect(queued.deadLetters).toBeInstanceOf(QueueDeadLetterSink);
    // EMF, the default, goes to standard output.
    expect(queued.metricsMode).toBe('EMF');
    expect(typeof queued.emf).toBe('function');
    expect(queued.deadLetters).toMatchObject({ queueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q' });
    expect(deps.writeOptions).toEqual({ concurrency: DEFAULT_WRITE_CONCURRENCY });
    expect(depsFromEnv({ TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 's3://b/', WRITE_CONCURRENCY: '20' }).writeOptions).toEqual({ concurrency: 20 });
  });

  test('every client resolves its middleware stack once per command class, not once per request', () => {
    const cached = (client: unknown) => (client as { config: { cacheMiddleware?: boolean } }).config.cacheMiddleware;
    const bucket = depsFromEnv({ TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 's3://b/', METRICS_MODE: 'PUT_METRIC_DATA' });
    const queue = depsFromEnv({ TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 'https://sqs.eu-west-1.amazonaws.com/1/q' });
    const clients = [
      bucket.dynamodb,
      bucket.cloudwatch,
      (bucket.deadLetters as unknown as { client: unknown }).client,
      (queue.deadLetters as unknown as { client: unknown }).client,
    ];
    expect(clients.map(cached)).toEqual([true, true, true, true]);
  });
});
