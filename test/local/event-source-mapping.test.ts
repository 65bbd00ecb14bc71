/**
 * The local event source mapping against kinesalite: each property of an
 * AWS::Lambda::EventSourceMapping as Lambda honours it. The function here is
 * a plain async function standing in for the invocation, so that each test
 * can script its answers and see every event it gets.
 */
import { DescribeStreamSummaryCommand, ListShardsCommand, MergeShardsCommand, PutRecordsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { waitFor } from './helpers';
import { LocalAws } from '../../local/src';
import { CheckpointStore, EventSourceMappingPoller, laneOf, MappingSpec } from '../../local/src/runner/event-source-mapping';
import { InvokeResult } from '../../local/src/runner/lambda-runtime';

jest.setTimeout(60_000);

let aws: LocalAws;
beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => {
  await aws?.stop();
});

let streams = 0;
async function streamWith(items: Array<{ key: string; n: number }>, shards = 1): Promise<{ name: string; sequenceNumbers: string[] }> {
  const name = `mapping-${++streams}`;
  await aws.createStream(name, shards);
  const sequenceNumbers = await aws.putRecords(name, items.map((r) => ({ data: JSON.stringify(r), partitionKey: r.key })));
  return { name, sequenceNumbers };
}

type Answer = { result?: unknown; error?: string };
interface Harness {
  poller: EventSourceMappingPoller;
  /** Every event the function got, as arrays of record numbers. */
  batches: number[][];
  destination: unknown[];
  checkpoints: Map<string, string>;
  maxConcurrent: number;
}

function records(count: number, keys = 1): Array<{ key: string; n: number }> {
  return Array.from({ length: count }, (_, n) => ({ key: `key-${n % keys}`, n }));
}

type TestFunction = (event: KinesisStreamEvent, n: number[]) => Promise<Answer> | Answer;

function start(streamName: string, spec: Partial<MappingSpec>, fn: TestFunction, store?: Map<string, string>): Harness {
  const batches: number[][] = [];
  const destination: unknown[] = [];
  const checkpoints = store ?? new Map<string, string>();
  let running = 0;
  const harness: Harness = { batches, destination, checkpoints, maxConcurrent: 0, poller: undefined as unknown as EventSourceMappingPoller };
  const checkpointStore: CheckpointStore = {
    get: (uuid, shard) => checkpoints.get(`${uuid}/${shard}`),
    set: (uuid, shard, seq) => checkpoints.set(`${uuid}/${shard}`, seq),
  };
  harness.poller = new EventSourceMappingPoller({
    path: 'Test/Mapping',
    uuid: 'uuid-1',
    functionName: 'fn',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
    streamName,
    streamArn: `arn:aws:kinesis:us-east-1:123456789012:stream/${streamName}`,
    region: 'us-east-1',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/fn-role',
    batchSize: 10,
    batchingWindowMs: 0,
    startingPosition: 'TRIM_HORIZON',
    reportBatchItemFailures: true,
    maximumRetryAttempts: -1,
    maximumRecordAgeSeconds: -1,
    bisectOnError: false,
    parallelizationFactor: 1,
    onFailureArn: 'arn:aws:sqs:us-east-1:123456789012:failed',
    ...spec,
  }, {
    kinesis: aws.kinesisClient,
    invoke: async (payload): Promise<InvokeResult> => {
      const event = JSON.parse(payload) as KinesisStreamEvent;
      const ns = event.Records.map((r) => JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString()).n as number);
      batches.push(ns);
      running++;
      harness.maxConcurrent = Math.max(harness.maxConcurrent, running);
      try {
        const answer = await fn(event, ns);
        if (answer.error) {
          const error = { errorType: 'Error', errorMessage: answer.error };
          return { requestId: `req-${batches.length}`, payload: JSON.stringify(error), functionError: 'Unhandled', error, logs: [], durationMs: 1 };
        }
        return { requestId: `req-${batches.length}`, payload: JSON.stringify(answer.result ?? null), logs: [], durationMs: 1 };
      } finally {
        running--;
      }
    },
    sendToDestination: async (arn, message) => {
      expect(arn).toBe('arn:aws:sqs:us-east-1:123456789012:failed');
      destination.push(JSON.parse(message));
    },
    checkpoints: checkpointStore,
    pollIntervalMs: 50,
    shardDiscoveryIntervalMs: 1_000,
    warn: () => undefined,
  });
  harness.poller.start();
  return harness;
}

const ok = (): Answer => ({ result: { batchItemFailures: [] } });
const flat = (batches: number[][]) => batches.flat();

test('batch size, order and the Lambda event shape; a checkpoint at the last record', async () => {
  const { name, sequenceNumbers } = await streamWith(records(25));
  const events: KinesisStreamEvent[] = [];
  const h = start(name, { batchSize: 10 }, (event) => {
    events.push(event);
    return ok();
  });
  await waitFor(() => h.poller.stats.recordsDone === 25, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([[...Array(10).keys()], [...Array(10).keys()].map((i) => i + 10), [20, 21, 22, 23, 24]]);
  const r = events[0].Records[0];
  expect(r).toMatchObject({
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventName: 'aws:kinesis:record',
    awsRegion: 'us-east-1',
    eventID: `shardId-000000000000:${sequenceNumbers[0]}`,
    eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${name}`,
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/fn-role',
    kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'key-0', sequenceNumber: sequenceNumbers[0] },
  });
  expect(typeof r.kinesis.approximateArrivalTimestamp).toBe('number');
  expect(h.checkpoints.get('uuid-1/shardId-000000000000')).toBe(sequenceNumbers[24]);
});

test('ReportBatchItemFailures: retried from the lowest reported sequence number, records before it never again', async () => {
  const { name, sequenceNumbers } = await streamWith(records(10));
  let first = true;
  const h = start(name, { batchSize: 10 }, () => {
    if (!first) return ok();
    first = false;
    // Reported out of order: the lowest (record 4) is the checkpoint.
    return { result: { batchItemFailures: [{ itemIdentifier: sequenceNumbers[7] }, { itemIdentifier: sequenceNumbers[4] }] } };
  });
  await waitFor(() => h.poller.stats.recordsDone === 10, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8, 9]]);
  expect(h.poller.stats).toMatchObject({ partialFailures: 1, retries: 1, functionErrors: 0 });
});

test('a malformed partial response (an unknown or empty itemIdentifier) retries the whole batch', async () => {
  const { name } = await streamWith(records(5));
  const answers: Answer[] = [
    { result: { batchItemFailures: [{ itemIdentifier: '12345' }] } },
    { result: { batchItemFailures: [{ itemIdentifier: '' }] } },
    ok(),
  ];
  const h = start(name, { batchSize: 10 }, () => answers.shift()!);
  await waitFor(() => h.poller.stats.recordsDone === 5, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]);
});

test('function errors: bisected without using retries, then retried, then skipped with the on-failure record Lambda sends', async () => {
  const { name, sequenceNumbers } = await streamWith(records(8));
  // Record 5 always fails its batch; everything else succeeds.
  const h = start(name, { batchSize: 8, bisectOnError: true, maximumRetryAttempts: 2 }, (_, ns) => (ns.includes(5) ? { error: 'poison' } : ok()));
  await waitFor(() => h.poller.stats.recordsDone === 8, 'all records');
  await h.poller.stop();
  // [0..7] fails → [0..3] ok, [4..7] fails → [4,5] fails → [4] ok, [5] fails, retried twice, skipped; then [6,7].
  expect(h.batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4], [5], [5], [5], [6, 7]]);
  expect(h.poller.stats).toMatchObject({ bisections: 3, recordsDiscarded: 1, destinationMessages: 1 });
  expect(h.destination).toEqual([{
    requestContext: { requestId: 'req-8', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn', condition: 'RetryAttemptsExhausted', approximateInvokeCount: 6 },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    KinesisBatchInfo: {
      shardId: 'shardId-000000000000',
      startSequenceNumber: sequenceNumbers[5],
      endSequenceNumber: sequenceNumbers[5],
      approximateArrivalOfFirstRecord: expect.stringMatching(/Z$/),
      approximateArrivalOfLastRecord: expect.stringMatching(/Z$/),
      batchSize: 1,
      streamArn: `arn:aws:kinesis:us-east-1:123456789012:stream/${name}`,
    },
  }]);
});

test('without bisect, a failing batch is retried whole MaximumRetryAttempts times, then skipped', async () => {
  const { name } = await streamWith(records(4));
  const h = start(name, { batchSize: 3, maximumRetryAttempts: 1 }, (_, ns) => (ns.includes(1) ? { error: 'boom' } : ok()));
  await waitFor(() => h.poller.stats.recordsDone === 4, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([[0, 1, 2], [0, 1, 2], [3]]);
  expect(h.destination).toEqual([expect.objectContaining({
    KinesisBatchInfo: expect.objectContaining({ batchSize: 3 }),
    requestContext: expect.objectContaining({ approximateInvokeCount: 2 }),
  })]);
});

test('records older than MaximumRecordAgeInSeconds are skipped with RecordAgeExceeded, never invoked', async () => {
  const { name } = await streamWith(records(3));
  // Lambda's floor is 60 s; the poller takes any age, so 0 makes every record too old.
  const h = start(name, { batchSize: 10, maximumRecordAgeSeconds: 0 }, ok);
  await waitFor(() => h.poller.stats.recordsDone === 3, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([]);
  expect(h.destination).toEqual([expect.objectContaining({
    requestContext: expect.objectContaining({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 }),
    KinesisBatchInfo: expect.objectContaining({ batchSize: 3 }),
  })]);
});

test('ParallelizationFactor: batches of one shard at once, each partition key in order', async () => {
  const { name } = await streamWith(records(120, 12));
  const h = start(name, { batchSize: 5, parallelizationFactor: 4 }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return ok();
  });
  await waitFor(() => h.poller.stats.recordsDone === 120, 'all records');
  await h.poller.stop();
  expect(h.maxConcurrent).toBeGreaterThan(1);
  expect(flat(h.batches).sort((a, b) => a - b)).toEqual([...Array(120).keys()]);
  // Within a key, record numbers arrive in order (key = n % 12).
  for (let key = 0; key < 12; key++) {
    const seen = flat(h.batches).filter((n) => n % 12 === key);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  }
  // Each batch holds keys of one lane.
  for (const b of h.batches) expect(new Set(b.map((n) => laneOf(`key-${n % 12}`, 4))).size).toBe(1);
});

test('MaximumBatchingWindowInSeconds gathers records into one invocation', async () => {
  const name = `mapping-${++streams}`;
  await aws.createStream(name, 1);
  const h = start(name, { batchSize: 100, batchingWindowMs: 1_500 }, ok);
  await aws.putRecords(name, records(3).map((r) => ({ data: JSON.stringify(r), partitionKey: r.key })));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await aws.putRecords(name, records(3).map((r) => ({ data: JSON.stringify({ ...r, n: r.n + 3 }), partitionKey: r.key })));
  await waitFor(() => h.poller.stats.recordsDone === 6, 'all records');
  await h.poller.stop();
  expect(h.batches).toEqual([[0, 1, 2, 3, 4, 5]]);
});

test('LATEST skips what is already there; a restart resumes after the checkpoint', async () => {
  const { name } = await streamWith(records(3));
  const store = new Map<string, string>();
  const first = start(name, { startingPosition: 'LATEST' }, ok, store);
  // LATEST is taken when the mapping first reads; wait for it before putting more.
  await waitFor(() => first.poller.stats.polls > 0, 'the first poll');
  await aws.putRecords(name, [{ data: JSON.stringify({ key: 'k', n: 100 }), partitionKey: 'k' }]);
  await waitFor(() => first.poller.stats.recordsDone === 1, 'the new record');
  await first.poller.stop();
  expect(first.batches).toEqual([[100]]);

  await aws.putRecords(name, [{ data: JSON.stringify({ key: 'k', n: 101 }), partitionKey: 'k' }]);
  const second = start(name, { startingPosition: 'TRIM_HORIZON' }, ok, store);
  await waitFor(() => second.poller.stats.recordsDone === 1, 'the record after the checkpoint');
  await second.poller.stop();
  expect(second.batches).toEqual([[101]]);
});

test('AT_TIMESTAMP skips the records that arrived before the timestamp, and waits for newer ones when there are none yet', async () => {
  const { name } = await streamWith(records(3));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const h = start(name, { startingPosition: 'AT_TIMESTAMP', startingTimestamp: Date.now() }, ok);
  await waitFor(() => h.poller.stats.polls > 1, 'two polls');
  await aws.putRecords(name, [{ data: JSON.stringify({ key: 'k', n: 100 }), partitionKey: 'k' }]);
  await waitFor(() => h.poller.stats.recordsDone === 1, 'the record after the timestamp', 20_000);
  await h.poller.stop();
  expect(h.batches).toEqual([[100]]);
});

test('shards are read in parallel, each in order', async () => {
  const { name } = await streamWith(records(60, 30), 3);
  const h = start(name, { batchSize: 100 }, ok);
  await waitFor(() => h.poller.stats.recordsDone === 60, 'all records');
  await h.poller.stop();
  expect(flat(h.batches).sort((a, b) => a - b)).toEqual([...Array(60).keys()]);
  expect(h.batches.length).toBeGreaterThanOrEqual(2);
});

describe('a reshard while the mapping reads', () => {
  /** Puts records and answers the shard each landed on. */
  async function put(streamName: string, items: Array<{ key: string; n: number }>): Promise<string[]> {
    const out = await aws.kinesisClient.send(new PutRecordsCommand({
      StreamName: streamName,
      Records: items.map((r) => ({ Data: Buffer.from(JSON.stringify(r)), PartitionKey: r.key })),
    }));
    expect(out.FailedRecordCount ?? 0).toBe(0);
    return out.Records!.map((r) => r.ShardId!);
  }

  async function active(streamName: string): Promise<void> {
    await waitFor(async () => (await aws.kinesisClient.send(new DescribeStreamSummaryCommand({ StreamName: streamName })))
      .StreamDescriptionSummary?.StreamStatus === 'ACTIVE', `${streamName} to become active`);
  }

  const numbered = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ key: `key-${(from + i) % 8}`, n: from + i }));

  /** Every record exactly once, and within each partition key in the order it was put. */
  function expectOnceInOrder(batches: number[][], total: number): void {
    const seen = flat(batches);
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(total).keys()]);
    for (let key = 0; key < 8; key++) {
      const ofKey = seen.filter((n) => n % 8 === key);
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
  }

  // Lambda reads a child shard from its start once its parents are done, whatever the
  // mapping's StartingPosition: the position applies to the shards there when the mapping starts.
  test.each(['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'] as const)('SplitShard with %s: the children are read from their start after the parent, every record once', async (position) => {
    const name = `mapping-${++streams}`;
    await aws.createStream(name, 1);
    const h = start(name, { startingPosition: position, startingTimestamp: Date.now(), batchSize: 7 }, ok);
    await waitFor(() => h.poller.stats.polls > 0, 'the first poll');
    expect(new Set(await put(name, numbered(0, 40)))).toEqual(new Set(['shardId-000000000000']));
    await aws.kinesisClient.send(new SplitShardCommand({
      StreamName: name, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (2n ** 127n).toString(),
    }));
    await active(name);
    // Put at once, long before the mapping's next look for new shards.
    expect(new Set(await put(name, numbered(40, 40)))).toEqual(new Set(['shardId-000000000001', 'shardId-000000000002']));
    await waitFor(() => h.poller.stats.recordsDone >= 80, 'the records of the parent and both children', 30_000);
    await h.poller.stop();
    expectOnceInOrder(h.batches, 80);
    expect(h.checkpoints.has('uuid-1/shardId-000000000001') && h.checkpoints.has('uuid-1/shardId-000000000002')).toBe(true);
  });

  test('MergeShards with LATEST: the child is read from its start after both parents, every record once', async () => {
    const name = `mapping-${++streams}`;
    await aws.createStream(name, 2);
    // The parents take a while, so that the child is read well after it was created
    // (kinesalite dates a new shard's first sequence numbers a second ahead).
    let slow = true;
    const h = start(name, { startingPosition: 'LATEST', batchSize: 5 }, async () => {
      if (slow) await new Promise((resolve) => setTimeout(resolve, 1_500));
      slow = false;
      return ok();
    });
    await waitFor(() => h.poller.stats.polls >= 2, 'a poll of each shard');
    expect(new Set(await put(name, numbered(0, 40)))).toEqual(new Set(['shardId-000000000000', 'shardId-000000000001']));
    const shards = (await aws.kinesisClient.send(new ListShardsCommand({ StreamName: name }))).Shards!;
    expect(shards).toHaveLength(2);
    await aws.kinesisClient.send(new MergeShardsCommand({
      StreamName: name, ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000001',
    }));
    await active(name);
    expect(new Set(await put(name, numbered(40, 40)))).toEqual(new Set(['shardId-000000000002']));
    await waitFor(() => h.poller.stats.recordsDone >= 80, 'the records of both parents and the child', 30_000);
    await h.poller.stop();
    expectOnceInOrder(h.batches, 80);
  });

  test('a restarted mapping reads a child from its start when a parent has a checkpoint, whatever its StartingPosition', async () => {
    const name = `mapping-${++streams}`;
    await aws.createStream(name, 1);
    const store = new Map<string, string>();
    const first = start(name, { startingPosition: 'TRIM_HORIZON' }, ok, store);
    await put(name, numbered(0, 10));
    await waitFor(() => first.poller.stats.recordsDone === 10, 'the records of the parent');
    await first.poller.stop();
    await aws.kinesisClient.send(new SplitShardCommand({
      StreamName: name, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (2n ** 127n).toString(),
    }));
    await active(name);
    await put(name, numbered(10, 30));
    const second = start(name, { startingPosition: 'LATEST' }, ok, store);
    await waitFor(() => second.poller.stats.recordsDone >= 30, 'the records of both children', 30_000);
    await second.poller.stop();
    expectOnceInOrder([...first.batches, ...second.batches], 40);
  });
});
