/**
 * The replay's core: reading on-failure records, building Lambda's Kinesis
 * event, splitting batches, reading a range back from a shard, and honouring
 * the function's answers, against an in-memory shard that behaves as Kinesis
 * documents it (empty answers while behind, iterators that expire, records
 * trimmed at the retention horizon).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import * as fc from 'fast-check';
import { toLambdaRecord } from '../../local/src/lambda-events';
import {
  compareSequenceNumbers,
  eventRecordBytes,
  FailedBatch,
  functionNameOf,
  interpretResponse,
  InvokeResponse,
  MAX_ATTEMPTS,
  MAX_INVOKE_PAYLOAD_BYTES,
  nextBatchLength,
  parseFailureMessage,
  parseStreamArn,
  replayRange,
  ReplayDeps,
  splitIntoBatches,
  StreamRecord,
  toEventRecord,
} from '../../src/handlers/replay';
import { parseRequest, replayFailedBatches, ReplayHandlerDeps, ReplaySummary } from '../../src/handlers/replay.lambda';

const SHARD = 'shardId-000000000003';
const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/sensors';
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:processor';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/processor-role';
const BASE = 49601189658422359378836298521827638475320189012309704722n;
/** Sequence numbers grow, with gaps, as Kinesis's do. */
const seq = (i: number) => (BASE + BigInt(i) * 1_000_003n).toString();

/** The invocation record of the Lambda developer guide ("Retain discarded batch records"), with our range. */
interface RecordOptions {
  readonly invoked?: boolean;
  readonly streamArn?: string;
  readonly functionArn?: string;
}

function invocationRecord(start: string, end: string, batchSize: number, options: RecordOptions = {}) {
  const invoked = options.invoked ?? true;
  return {
    requestContext: {
      requestId: 'c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5',
      functionArn: options.functionArn ?? FUNCTION_ARN,
      condition: invoked ? 'RetryAttemptsExhausted' : 'RecordAgeExceeded',
      approximateInvokeCount: invoked ? 11 : 0,
    },
    ...(invoked ? { responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' } } : {}),
    version: '1.0',
    timestamp: '2019-11-14T00:38:06.021Z',
    KinesisBatchInfo: {
      shardId: SHARD,
      startSequenceNumber: start,
      endSequenceNumber: end,
      approximateArrivalOfFirstRecord: '2019-11-14T00:38:04.835Z',
      approximateArrivalOfLastRecord: '2019-11-14T00:38:05.580Z',
      batchSize,
      streamArn: options.streamArn ?? STREAM_ARN,
    },
  };
}

/** The same record as an SNS topic delivers it to a subscribed queue (raw delivery off). */
function snsNotification(record: unknown): string {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:eu-west-1:123456789012:failed-batches',
    Message: JSON.stringify(record),
    Timestamp: '2019-11-14T00:38:06.100Z',
    SignatureVersion: '1',
  });
}

describe('parseFailureMessage', () => {
  const expected: FailedBatch = {
    shardId: SHARD,
    startSequenceNumber: seq(0),
    endSequenceNumber: seq(499),
    batchSize: 500,
    streamArn: STREAM_ARN,
    streamName: 'sensors',
    region: 'eu-west-1',
    condition: 'RetryAttemptsExhausted',
    functionArn: FUNCTION_ARN,
  };

  test('the record Lambda sends to an SQS destination', () => {
    expect(parseFailureMessage(JSON.stringify(invocationRecord(seq(0), seq(499), 500)))).toEqual({ ok: true, batch: expected });
  });

  test('a batch that expired before it was invoked: no responseContext, RecordAgeExceeded', () => {
    expect(parseFailureMessage(JSON.stringify(invocationRecord(seq(0), seq(499), 500, { invoked: false }))))
      .toEqual({ ok: true, batch: { ...expected, condition: 'RecordAgeExceeded' } });
  });

  test('the same record in an SNS notification, as a queue subscribed to an SNS destination receives it', () => {
    expect(parseFailureMessage(snsNotification(invocationRecord(seq(0), seq(499), 500)))).toEqual({ ok: true, batch: expected });
  });

  test('a stream consumer\'s ARN (enhanced fan-out) names its stream', () => {
    const consumer = `${STREAM_ARN}/consumer/PipelineProcessorStreamConsumer:1700000000`;
    const parsed = parseFailureMessage(JSON.stringify(invocationRecord(seq(0), seq(0), 1, { streamArn: consumer })));
    expect(parsed).toEqual({ ok: true, batch: expect.objectContaining({ streamArn: consumer, streamName: 'sensors', region: 'eu-west-1' }) });
    expect(parseStreamArn(consumer)?.streamArn).toBe(STREAM_ARN);
  });

  test.each([
    ['not json', 'the message is not JSON'],
    ['[1]', 'the message is not a JSON object'],
    [JSON.stringify({ Type: 'Notification', Message: '{' }), 'the SNS notification\'s Message is not JSON'],
    [JSON.stringify({ requestContext: {}, DDBStreamBatchInfo: { shardId: SHARD } }), 'DynamoDB stream'],
    [JSON.stringify({ requestContext: {} }), 'no KinesisBatchInfo'],
  ])('refuses %s', (body, reason) => {
    const parsed = parseFailureMessage(body);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason).toContain(reason);
  });

  test('refuses each field out of its shape, naming the field', () => {
    const valid = invocationRecord(seq(0), seq(9), 10);
    const bad: Array<[string, unknown]> = [
      ['shardId', ''], ['shardId', 'shard 1'], ['shardId', 7],
      ['startSequenceNumber', '01'], ['startSequenceNumber', 12], ['startSequenceNumber', '1'.repeat(130)],
      ['endSequenceNumber', 'x'], ['endSequenceNumber', null],
      ['batchSize', 0], ['batchSize', 10_001], ['batchSize', 1.5], ['batchSize', '10'],
      ['streamArn', 'arn:aws:sqs:eu-west-1:123456789012:q'], ['streamArn', 'sensors'],
    ];
    for (const [field, value] of bad) {
      const parsed = parseFailureMessage(JSON.stringify({ ...valid, KinesisBatchInfo: { ...valid.KinesisBatchInfo, [field]: value } }));
      expect({ field, value, reason: parsed.ok ? 'accepted' : parsed.reason }).toEqual({ field, value, reason: expect.stringContaining(`KinesisBatchInfo.${field}`) });
    }
    const reversed = parseFailureMessage(JSON.stringify(invocationRecord(seq(9), seq(0), 10)));
    expect(!reversed.ok && reversed.reason).toContain('is after endSequenceNumber');
  });

  test('any range, in either format, invoked or not: read back exactly', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 60n }), fc.bigInt({ min: 0n, max: 10n ** 60n }), fc.integer({ min: 1, max: 10_000 }),
      fc.boolean(), fc.boolean(),
      (a, b, size, invoked, viaSns) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        const record = invocationRecord(start.toString(), end.toString(), size, { invoked });
        const parsed = parseFailureMessage(viaSns ? snsNotification(record) : JSON.stringify(record));
        const batch = { startSequenceNumber: start.toString(), endSequenceNumber: end.toString(), batchSize: size };
        expect(parsed).toEqual({ ok: true, batch: expect.objectContaining(batch) });
      }), { numRuns: 300 });
  });
});

test('compareSequenceNumbers orders by value, at any length', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 128n }), fc.bigInt({ min: 0n, max: 10n ** 128n }), (a, b) => {
    expect(compareSequenceNumbers(a.toString(), b.toString())).toBe(a < b ? -1 : a > b ? 1 : 0);
  }));
});

test('functionNameOf: a name, an ARN, a qualified ARN', () => {
  expect(functionNameOf('processor')).toBe('processor');
  expect(functionNameOf(FUNCTION_ARN)).toBe('processor');
  expect(functionNameOf(`${FUNCTION_ARN}:live`)).toBe('processor');
});

describe('toEventRecord', () => {
  const record: StreamRecord = { sequenceNumber: seq(1), partitionKey: '1', data: Buffer.from('Hello, this is a test.'), approximateArrivalTimestamp: 1545084650987 };
  const source = { shardId: 'shardId-000000000006', eventSourceArn: STREAM_ARN, region: 'eu-west-1', invokeIdentityArn: ROLE_ARN };

  test('the record in the shape of the Lambda developer guide\'s Kinesis event, field for field', () => {
    const r = toEventRecord(record, source);
    expect(JSON.parse(JSON.stringify(r))).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: '1',
        sequenceNumber: seq(1),
        data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
        approximateArrivalTimestamp: 1545084650.987,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000006:${seq(1)}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: ROLE_ARN,
      awsRegion: 'eu-west-1',
      eventSourceARN: STREAM_ARN,
    });
    expect(Object.keys(r)).toEqual(['kinesis', 'eventSource', 'eventVersion', 'eventID', 'eventName', 'invokeIdentityArn', 'awsRegion', 'eventSourceARN']);
  });

  test('the same event the local event source mapping builds, for any record', () => {
    const arrivals = fc.integer({ min: 0, max: 4_102_444_800_000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ minLength: 1, maxLength: 256 }), arrivals, (data, key, arrival) => {
      const r = { sequenceNumber: seq(7), partitionKey: key, data, approximateArrivalTimestamp: arrival };
      const local = toLambdaRecord(r, { streamName: 'sensors', shardId: SHARD, region: 'eu-west-1' });
      expect(toEventRecord(r, { ...source, shardId: SHARD })).toEqual({ ...local, invokeIdentityArn: ROLE_ARN, eventSourceARN: STREAM_ARN });
      expect(Buffer.from(toEventRecord(r, source).kinesis.data, 'base64')).toEqual(Buffer.from(data));
    }));
  });
});

function eventRecords(sizes: readonly number[]): KinesisStreamRecord[] {
  const source = { shardId: SHARD, eventSourceArn: STREAM_ARN, region: 'eu-west-1', invokeIdentityArn: ROLE_ARN };
  return sizes.map((n, i) => toEventRecord({ sequenceNumber: seq(i), partitionKey: `k${i}`, data: Buffer.alloc(n, 7), approximateArrivalTimestamp: 1e12 }, source));
}

const payloadBytes = (records: readonly KinesisStreamRecord[]) => Buffer.byteLength(JSON.stringify({ Records: records }));

describe('batches', () => {
  test('splitIntoBatches: in order, at most batchSize records and one payload each, and no batch ends early', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 300, max: 20_000 }),
      (sizes, batchSize, maxBytes) => {
        const records = eventRecords(sizes);
        const batches = splitIntoBatches(records, batchSize, maxBytes);
        expect(batches.flat()).toEqual(records);
        batches.forEach((b, i) => {
          expect(b.length).toBeGreaterThanOrEqual(1);
          expect(b.length).toBeLessThanOrEqual(batchSize);
          // The payload is exactly the event's JSON, within the limit unless one record alone passes it.
          if (b.length > 1) expect(payloadBytes(b)).toBeLessThanOrEqual(maxBytes);
          const next = batches[i + 1]?.[0];
          if (next) expect(b.length === batchSize || payloadBytes([...b, next]) > maxBytes).toBe(true);
        });
      }), { numRuns: 500 });
  });

  test('the payload limit is Lambda\'s 6 MB, reached exactly', () => {
    const records = eventRecords([1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000]);
    // Five records of 1 MB are 6.7 MB of base64: four fit, the fifth does not.
    expect(nextBatchLength(records, 10)).toBe(4);
    expect(payloadBytes(records.slice(0, 4))).toBeLessThanOrEqual(MAX_INVOKE_PAYLOAD_BYTES);
    expect(payloadBytes(records)).toBeGreaterThan(MAX_INVOKE_PAYLOAD_BYTES);
    expect(nextBatchLength(records, 3)).toBe(3);
    expect(eventRecordBytes(records[0])).toBe(Buffer.byteLength(JSON.stringify(records[0])));
  });
});

describe('interpretResponse', () => {
  const batch = eventRecords([1, 1, 1, 1, 1]);
  const ok = (payload: unknown) => interpretResponse(batch, { payload: payload === undefined ? '' : JSON.stringify(payload) }, true);

  test('success, as Lambda reads it: no list, an empty or null list, an empty or null response', () => {
    for (const p of [undefined, null, {}, { batchItemFailures: [] }, { batchItemFailures: null }, { statusCode: 200 }]) expect(ok(p)).toEqual({ kind: 'done' });
  });

  test('a partial failure checkpoints at the lowest reported sequence number', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }), (indexes) => {
      const out = ok({ batchItemFailures: indexes.map((i) => ({ itemIdentifier: seq(i) })) });
      expect(out).toEqual({ kind: 'partial', index: Math.min(...indexes) });
    }));
  });

  test('the whole batch fails on a malformed list, an unknown record or a function error', () => {
    for (const p of [
      { batchItemFailures: 'x' }, { batchItemFailures: [{ itemIdentifier: '' }] }, { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ id: seq(1) }] }, { batchItemFailures: [{ itemIdentifier: seq(99) }] },
    ]) expect(ok(p)).toEqual({ kind: 'failed', reason: expect.any(String) });
    expect(interpretResponse(batch, { payload: 'not json' }, true)).toEqual({ kind: 'failed', reason: 'the response is not JSON' });
    const error = interpretResponse(batch, { functionError: 'Unhandled', payload: JSON.stringify({ errorType: 'Error', errorMessage: 'table unreachable' }) }, true);
    expect(error).toEqual({ kind: 'failed', reason: 'function error: Error: table unreachable' });
  });

  test('without ReportBatchItemFailures the answer is ignored; a function error still fails', () => {
    expect(interpretResponse(batch, { payload: JSON.stringify({ batchItemFailures: [{ itemIdentifier: seq(2) }] }) }, false)).toEqual({ kind: 'done' });
    expect(interpretResponse(batch, { functionError: 'Unhandled', payload: '{}' }, false).kind).toBe('failed');
  });
});

type Read = 'ok' | 'empty' | 'expired';

/**
 * One shard of a stream, in memory, answering GetShardIterator and GetRecords
 * as Kinesis does: records from `trimmedBefore` on are still there; a read may
 * come back empty while the shard holds more, or find its iterator expired
 * (`reads`, in turn, over and over; always with an `ok` among them, as Kinesis
 * does return the records in the end).
 */
class FakeShard {
  getRecordsCalls = 0;
  private readonly reads: readonly Read[];
  constructor(
    readonly records: readonly StreamRecord[],
    private readonly options: { trimmedBefore?: number; reads?: readonly Read[]; shardId?: string } = {},
  ) {
    this.reads = [...(options.reads ?? []), 'ok'];
  }

  private get present(): readonly StreamRecord[] {
    return this.records.slice(this.options.trimmedBefore ?? 0);
  }

  readonly send = async (command: { input: any; constructor: { name: string } }): Promise<unknown> => {
    const input = command.input;
    switch (command.constructor.name) {
      case 'GetShardIteratorCommand': {
        if (input.ShardId !== (this.options.shardId ?? SHARD)) throw Object.assign(new Error(`Shard ${input.ShardId} does not exist`), { name: 'ResourceNotFoundException' });
        const s = BigInt(input.StartingSequenceNumber);
        const at = this.present.findIndex((r) => (input.ShardIteratorType === 'AT_SEQUENCE_NUMBER' ? BigInt(r.sequenceNumber) >= s : BigInt(r.sequenceNumber) > s));
        return { ShardIterator: String(at < 0 ? this.present.length : at) };
      }
      case 'GetRecordsCommand': {
        const read = this.reads[this.getRecordsCalls++ % this.reads.length];
        const pos = Number(input.ShardIterator);
        if (read === 'expired') throw Object.assign(new Error('Iterator expired'), { name: 'ExpiredIteratorException' });
        const behind = (p: number) => (p < this.present.length ? 1_000 : 0);
        if (read === 'empty') return { Records: [], NextShardIterator: String(pos), MillisBehindLatest: behind(pos) };
        const out = this.present.slice(pos, pos + input.Limit);
        return {
          Records: out.map((r) => ({
            SequenceNumber: r.sequenceNumber,
            PartitionKey: r.partitionKey,
            Data: r.data,
            ApproximateArrivalTimestamp: new Date(r.approximateArrivalTimestamp),
          })),
          NextShardIterator: String(pos + out.length),
          MillisBehindLatest: behind(pos + out.length),
        };
      }
      default: throw new Error(`unexpected ${command.constructor.name}`);
    }
  };
}

function shardRecords(n: number, size = 20): StreamRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    sequenceNumber: seq(i),
    partitionKey: `sensor-${i % 7}`,
    data: Buffer.from(`{"sensorid":"s${i % 7}","value":${i}}`.padEnd(size, ' ')),
    approximateArrivalTimestamp: 1_700_000_000_000 + i,
  }));
}

function rangeOf(start: number, end: number, batchSize: number): FailedBatch {
  return { shardId: SHARD, startSequenceNumber: seq(start), endSequenceNumber: seq(end), batchSize, streamArn: STREAM_ARN, streamName: 'sensors', region: 'eu-west-1' };
}

/** A function that fails as its script says: per record, how many times it reports it (or errors on its batch) before it passes. */
class FakeFunction {
  readonly events: KinesisStreamEvent[] = [];
  /** Records of each invocation the function finished, from the first. */
  readonly finishedPerEvent: number[] = [];
  /** Sequence numbers the function finished (not reported), with how often. */
  readonly finished = new Map<string, number>();
  constructor(private readonly failures: Map<string, number> = new Map(), private readonly mode: 'partial' | 'error' = 'partial') {}

  readonly invoke = async (event: KinesisStreamEvent): Promise<InvokeResponse> => {
    this.events.push(structuredClone(event));
    const index = event.Records.findIndex((r) => (this.failures.get(r.kinesis.sequenceNumber) ?? 0) > 0);
    if (index >= 0) {
      const id = event.Records[index].kinesis.sequenceNumber;
      this.failures.set(id, this.failures.get(id)! - 1);
      if (this.mode === 'error') return { functionError: 'Unhandled', payload: JSON.stringify({ errorType: 'Error', errorMessage: 'the table is unreachable' }) };
    }
    const done = index < 0 ? event.Records : event.Records.slice(0, index);
    this.finishedPerEvent.push(done.length);
    for (const r of done) this.finished.set(r.kinesis.sequenceNumber, (this.finished.get(r.kinesis.sequenceNumber) ?? 0) + 1);
    return { payload: JSON.stringify({ batchItemFailures: index < 0 ? [] : [{ itemIdentifier: event.Records[index].kinesis.sequenceNumber }] }) };
  };
}

function replayDeps(shard: FakeShard, fn: FakeFunction, batchSize: number, more: Partial<ReplayDeps> = {}): ReplayDeps {
  return {
    kinesis: shard as unknown as KinesisClient,
    invoke: fn.invoke,
    batchSize,
    reportBatchItemFailures: true,
    invokeIdentityArn: ROLE_ARN,
    timeLeft: () => 600_000,
    invocationReserveMs: 60_000,
    sleep: async () => undefined,
    ...more,
  };
}

/** Every invocation is of consecutive records of the range, at most `batchSize`, and starts where the function left off. */
function expectInvocationsInOrder(fn: FakeFunction, records: readonly StreamRecord[], start: number, end: number, batchSize: number): void {
  const index = new Map(records.map((r, i) => [r.sequenceNumber, i]));
  let next = start;
  fn.events.forEach((e, n) => {
    const ids = e.Records.map((r) => index.get(r.kinesis.sequenceNumber)!);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThanOrEqual(batchSize);
    ids.forEach((id, k) => expect(id).toBe(ids[0] + k));
    expect(ids[ids.length - 1]).toBeLessThanOrEqual(end);
    // A batch starts at the first record not yet finished: never skips one, never goes back.
    expect(ids[0]).toBe(next);
    next = ids[0] + fn.finishedPerEvent[n];
  });
  expect(next).toBe(end + 1);
}

describe('replayRange', () => {
  test('a range whose records fail at most twice in a row is replayed whole, in order, each record finished once', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 10 }),
      fc.array(fc.constantFrom<Read>('ok', 'empty', 'expired'), { maxLength: 7 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: MAX_ATTEMPTS - 1 })), { maxLength: 10 }),
      async (length, batchSize, before, reads, fails) => {
        const records = shardRecords(before + length + 5);
        const start = before;
        const end = before + length - 1;
        const failures = new Map(fails.map(([i, n]) => [seq(start + (i % length)), n]));
        const fn = new FakeFunction(failures);
        const shard = new FakeShard(records, { reads });
        const result = await replayRange(rangeOf(start, end, length), replayDeps(shard, fn, batchSize));
        expect(result).toEqual({ kind: 'done', records: length, invocations: fn.events.length });
        expect([...fn.finished.keys()].sort()).toEqual(records.slice(start, end + 1).map((r) => r.sequenceNumber).sort());
        expect([...fn.finished.values()].every((n) => n === 1)).toBe(true);
        expectInvocationsInOrder(fn, records, start, end, batchSize);
      }), { numRuns: 300 });
  });

  test('a record the function keeps reporting stops the range there after MAX_ATTEMPTS invocations at that checkpoint', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 25 }), fc.nat(), async (length, batchSize, k) => {
      const records = shardRecords(length);
      const bad = k % length;
      const fn = new FakeFunction(new Map([[seq(bad), Number.POSITIVE_INFINITY]]));
      const result = await replayRange(rangeOf(0, length - 1, length), replayDeps(new FakeShard(records), fn, batchSize));
      expect(result).toEqual(expect.objectContaining({ kind: 'failed', records: bad, at: seq(bad) }));
      expect((result as { reason: string }).reason).toContain(`the function reported ${seq(bad)} as failed (${MAX_ATTEMPTS} attempts)`);
      const atCheckpoint = fn.events.filter((e) => e.Records[0].kinesis.sequenceNumber === seq(bad));
      expect(atCheckpoint).toHaveLength(MAX_ATTEMPTS);
      // Nothing after the record was invoked past it.
      expect(fn.events.every((e) => BigInt(e.Records[0].kinesis.sequenceNumber) <= BigInt(seq(bad)))).toBe(true);
    }), { numRuns: 200 });
  });

  test('function errors: each batch is retried whole, and the range fails at the first batch that errs MAX_ATTEMPTS times in a row', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 0, max: MAX_ATTEMPTS }), { maxLength: 10 }),
      async (length, batchSize, errorsPerBatch) => {
        // Errors of batch b: its first record errs errorsPerBatch[b] times.
        const batches = Math.ceil(length / batchSize);
        const failures = new Map<string, number>();
        for (let b = 0; b < batches; b++) if (errorsPerBatch[b]) failures.set(seq(b * batchSize), errorsPerBatch[b]);
        const fn = new FakeFunction(failures, 'error');
        const result = await replayRange(rangeOf(0, length - 1, length), replayDeps(new FakeShard(shardRecords(length)), fn, batchSize));
        // The model: batches in turn; one that errs MAX_ATTEMPTS times stops the range.
        const stop = Array.from({ length: batches }, (_, b) => errorsPerBatch[b] ?? 0).findIndex((n) => n >= MAX_ATTEMPTS);
        if (stop < 0) {
          expect(result).toEqual({ kind: 'done', records: length, invocations: batches + Array.from({ length: batches }, (_, b) => errorsPerBatch[b] ?? 0).reduce((a, n) => a + n, 0) });
        } else {
          expect(result).toEqual(expect.objectContaining({ kind: 'failed', records: stop * batchSize, at: seq(stop * batchSize) }));
          expect((result as { reason: string }).reason).toBe(`function error: Error: the table is unreachable (${MAX_ATTEMPTS} attempts)`);
        }
      }), { numRuns: 300 });
  });

  test('a range trimmed from the stream: wholly gone, nothing is invoked; partly gone, the rest is replayed and the gap reported', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 10 }), fc.array(fc.constantFrom<Read>('ok', 'empty', 'expired'), { maxLength: 4 }),
      async (start, length, cut, after, reads) => {
        const end = start + length - 1;
        const records = shardRecords(end + 1 + after);
        const trimmedBefore = Math.min(cut, records.length);
        const shard = new FakeShard(records, { trimmedBefore, reads });
        const fn = new FakeFunction();
        const result = await replayRange(rangeOf(start, end, length), replayDeps(shard, fn, 10));
        if (trimmedBefore <= start) {
          expect(result.kind).toBe('done');
        } else if (trimmedBefore <= end) {
          expect(result).toEqual({
            kind: 'trimmed',
            records: end - trimmedBefore + 1,
            invocations: fn.events.length,
            firstAvailable: seq(trimmedBefore),
            reason: `the range's first records are no longer in the stream: it now starts at ${seq(trimmedBefore)}`,
          });
          expect([...fn.finished.keys()]).toEqual(records.slice(trimmedBefore, end + 1).map((r) => r.sequenceNumber));
        } else {
          expect(result).toEqual(expect.objectContaining({ kind: 'trimmed', records: 0, invocations: 0 }));
          expect((result as { reason: string }).reason).toMatch(/^the range is no longer in the stream/);
          expect(fn.events).toEqual([]);
        }
        // Reads end: no read loops on a range that is gone.
        expect(shard.getRecordsCalls).toBeLessThanOrEqual((reads.length + 1) * (length + 2));
      }), { numRuns: 400 });
  });

  test('a shard that no longer exists is a trimmed range', async () => {
    const fn = new FakeFunction();
    const result = await replayRange(rangeOf(0, 3, 4), replayDeps(new FakeShard(shardRecords(4), { shardId: 'shardId-000000000009' }), fn, 10));
    expect(result).toEqual({ kind: 'trimmed', records: 0, invocations: 0, reason: expect.stringContaining('the shard is no longer in the stream') });
  });

  test('the end of a range that is not in the shard: reported, not waited for', async () => {
    const result = await replayRange(rangeOf(0, 8, 9), replayDeps(new FakeShard(shardRecords(5)), new FakeFunction(), 100));
    expect(result).toEqual(expect.objectContaining({ kind: 'unreadable', reason: expect.stringContaining(`the range's last record ${seq(8)} was not found`) }));
  });

  test('no invocation is started with less time left than the reserve', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 12 }), async (allowed) => {
      let clock = 0;
      const fn = new FakeFunction();
      const invoke = async (e: KinesisStreamEvent) => {
        clock++;
        return fn.invoke(e);
      };
      const result = await replayRange(rangeOf(0, 99, 100), replayDeps(new FakeShard(shardRecords(100)), fn, 5, {
        invoke, timeLeft: () => (clock < allowed ? 100_000 : 1_000), invocationReserveMs: 60_000,
      }));
      expect(fn.events).toHaveLength(Math.min(allowed, 20));
      if (allowed < 20) expect(result).toEqual({ kind: 'out of time', records: allowed * 5, invocations: allowed, at: seq(allowed * 5) });
      else expect(result.kind).toBe('done');
    }));
  });

  test('batches stay within the payload limit, and each invocation carries the event Lambda would', async () => {
    const records = shardRecords(30, 400);
    const fn = new FakeFunction();
    const result = await replayRange(rangeOf(0, 29, 30), replayDeps(new FakeShard(records), fn, 100, { maxPayloadBytes: 4_000 }));
    expect(result.kind).toBe('done');
    expect(fn.events.length).toBeGreaterThan(3);
    for (const e of fn.events) expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(4_000);
    const source = { shardId: SHARD, eventSourceArn: STREAM_ARN, region: 'eu-west-1', invokeIdentityArn: ROLE_ARN };
    expect(fn.events.flatMap((e) => e.Records)).toEqual(records.map((r) => JSON.parse(JSON.stringify(toEventRecord(r, source)))));
  });
});

/** A queue in memory: receive hides a message for its visibility timeout (here: for the rest of the test), delete removes it. */
class FakeQueue {
  readonly messages = new Map<string, { body: string; hidden: boolean }>();
  receives = 0;
  constructor(bodies: readonly string[]) {
    bodies.forEach((body, i) => this.messages.set(`m${i}`, { body, hidden: false }));
  }

  readonly send = async (command: { input: any; constructor: { name: string } }): Promise<unknown> => {
    if (command.constructor.name === 'ReceiveMessageCommand') {
      this.receives++;
      expect(command.input.VisibilityTimeout).toBeGreaterThan(0);
      const out = [...this.messages.entries()].filter(([, m]) => !m.hidden).slice(0, command.input.MaxNumberOfMessages);
      for (const [, m] of out) m.hidden = true;
      return { Messages: out.map(([id, m]) => ({ MessageId: id, ReceiptHandle: `rh-${id}`, Body: m.body })) };
    }
    if (command.constructor.name === 'DeleteMessageCommand') {
      this.messages.delete(String(command.input.ReceiptHandle).replace(/^rh-/, ''));
      return {};
    }
    throw new Error(`unexpected ${command.constructor.name}`);
  };
}

function handlerDeps(queue: FakeQueue, shard: FakeShard, fn: FakeFunction, more: Partial<ReplayHandlerDeps> = {}): ReplayHandlerDeps {
  const lambda = {
    send: async (command: { input: any }) => {
      expect(command.input).toMatchObject({ FunctionName: FUNCTION_ARN, InvocationType: 'RequestResponse' });
      const out = await fn.invoke(JSON.parse(Buffer.from(command.input.Payload).toString('utf8')));
      return { StatusCode: 200, FunctionError: out.functionError, Payload: Buffer.from(out.payload) };
    },
  };
  return {
    sqs: queue as unknown as SQSClient,
    kinesis: shard as unknown as KinesisClient,
    lambda: lambda as unknown as LambdaClient,
    queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/failed-batches',
    streamArn: STREAM_ARN,
    targetFunction: FUNCTION_ARN,
    invokeIdentityArn: ROLE_ARN,
    batchSize: 10,
    reportBatchItemFailures: true,
    targetTimeoutSeconds: 60,
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    sleep: async () => undefined,
    ...more,
  };
}

describe('replayFailedBatches', () => {
  test('deletes a message once its whole range is done, and leaves every other one with its reason, each tried once', async () => {
    const records = shardRecords(100);
    const shard = new FakeShard(records, { trimmedBefore: 20 });
    const fn = new FakeFunction(new Map([[seq(75), Number.POSITIVE_INFINITY]]));
    const bodies = [
      JSON.stringify(invocationRecord(seq(30), seq(49), 20)), // replayed
      snsNotification(invocationRecord(seq(50), seq(59), 10, { invoked: false })), // replayed
      JSON.stringify(invocationRecord(seq(0), seq(9), 10)), // trimmed away
      JSON.stringify(invocationRecord(seq(15), seq(24), 10)), // partly trimmed
      JSON.stringify(invocationRecord(seq(70), seq(79), 10)), // fails at 75 every time
      JSON.stringify(invocationRecord(seq(80), seq(89), 10, { streamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/other' })),
      JSON.stringify(invocationRecord(seq(90), seq(99), 10, { functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:archiver' })),
      '{"not":"a failure record"}',
    ];
    const queue = new FakeQueue(bodies);
    const summary = await replayFailedBatches({}, handlerDeps(queue, shard, fn), () => 600_000) as ReplaySummary;
    expect(summary).toMatchObject({ statusCode: 200, messages: 8, replayed: 2, stoppedBecause: 'no message to receive' });
    expect([...queue.messages.keys()].sort()).toEqual(['m2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    // 20 + 10 whole, 5 of the partly trimmed range, 5 before the failing record.
    expect(summary.records).toBe(40);
    expect(summary.trimmed).toEqual([
      { messageId: 'm2', shardId: SHARD, startSequenceNumber: seq(0), endSequenceNumber: seq(9), reason: expect.stringContaining('no longer in the stream') },
      { messageId: 'm3', shardId: SHARD, startSequenceNumber: seq(15), endSequenceNumber: seq(24), firstAvailable: seq(20), reason: expect.stringContaining(`now starts at ${seq(20)}`) },
    ]);
    const reasons = Object.fromEntries(summary.left.map((l) => [l.messageId, l.reason]));
    expect(reasons).toEqual({
      m2: expect.stringContaining('no longer in the stream'),
      m3: expect.stringContaining('the rest was replayed'),
      m4: expect.stringContaining(`the function did not finish ${seq(75)}`),
      m5: expect.stringContaining('not of arn:aws:kinesis:eu-west-1:123456789012:stream/sensors'),
      m6: expect.stringContaining('failed in the function arn:aws:lambda:eu-west-1:123456789012:function:archiver'),
      m7: 'the message has no KinesisBatchInfo object',
    });
    // Every message was received once: the run ended on an empty queue, not by looping.
    expect(fn.events.filter((e) => e.Records[0].kinesis.sequenceNumber === seq(75))).toHaveLength(MAX_ATTEMPTS);
  });

  test('maxMessages bounds a run; an empty queue answers at once', async () => {
    const bodies = [0, 10, 20].map((s) => JSON.stringify(invocationRecord(seq(s), seq(s + 9), 10)));
    const queue = new FakeQueue(bodies);
    const deps = handlerDeps(queue, new FakeShard(shardRecords(30)), new FakeFunction());
    expect(await replayFailedBatches({ maxMessages: 2 }, deps, () => 600_000)).toMatchObject({ messages: 2, replayed: 2, records: 20, stoppedBecause: 'maxMessages were received' });
    expect(await replayFailedBatches({}, deps, () => 600_000)).toMatchObject({ messages: 1, replayed: 1, records: 10, stoppedBecause: 'no message to receive' });
    expect(await replayFailedBatches({}, deps, () => 600_000)).toEqual({
      statusCode: 200, messages: 0, replayed: 0, records: 0, invocations: 0, trimmed: [], left: [], stoppedBecause: 'no message to receive',
    });
    expect(queue.messages.size).toBe(0);
  });

  test('the run stops receiving when the time left would not cover an invocation', async () => {
    const queue = new FakeQueue([JSON.stringify(invocationRecord(seq(0), seq(9), 10))]);
    const summary = await replayFailedBatches({}, handlerDeps(queue, new FakeShard(shardRecords(10)), new FakeFunction()), () => 30_000);
    expect(summary).toMatchObject({ messages: 0, stoppedBecause: 'the time of this invocation is running out' });
    expect(queue.receives).toBe(0);
  });

  test('an invalid request answers 400 with the reason, and receives nothing', async () => {
    expect(parseRequest(undefined)).toEqual({ ok: true, request: {} });
    expect(parseRequest({ maxMessages: 5 })).toEqual({ ok: true, request: { maxMessages: 5 } });
    const queue = new FakeQueue([]);
    for (const [event, error] of [
      [[1], 'the request must be a JSON object'],
      ['x', 'the request must be a JSON object'],
      [{ maxMessages: 0 }, 'maxMessages must be an integer from 1 to 10000, got 0'],
      [{ maxMessages: 10_001 }, 'maxMessages must be an integer from 1 to 10000, got 10001'],
      [{ maxMessages: '3' }, 'maxMessages must be an integer from 1 to 10000, got "3"'],
      [{ limit: 3 }, 'unknown field "limit"'],
    ] as const) {
      expect(await replayFailedBatches(event, handlerDeps(queue, new FakeShard([]), new FakeFunction()), () => 600_000))
        .toEqual({ statusCode: 400, error: expect.stringContaining(error) });
    }
    expect(queue.receives).toBe(0);
  });
});
