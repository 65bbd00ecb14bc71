/**
 * End to end under faults: the device simulator puts a few thousand readings
 * through the example's template run locally, while a share of the
 * processor's DynamoDB writes is throttled, half-written or failed, and the
 * processor's process is killed mid-run. Exact counts at the end: every valid
 * reading stored once with its value, every malformed one dead-lettered with
 * its reason, every record archived, nothing skipped.
 */
import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { readArchive, REFERENCE_STACK, synthesizeExample, waitFor } from './helpers';
import { CREDENTIALS, LocalAws, MALFORMED_REASONS, REGION, SHARD_ID } from '../../local/src';
import { LocalRun } from '../../local/src/runner/local-run';
import { PutReading } from '../../local/src/runner/simulator';

jest.setTimeout(300_000);

const READINGS = 3_000;

let run: LocalRun;
const warnings: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({
    cdkOut: synthesizeExample(),
    stacks: [REFERENCE_STACK],
    port: 0,
    pollIntervalMs: 200,
    faults: { rate: 0.3, kinds: ['throttle', 'unprocessed', 'error500'], seed: 11 },
    onWarning: (m) => warnings.push(m),
  });
});

afterAll(async () => {
  await run?.stop();
});

test(`${READINGS} readings with throttled writes and a killed processor: exact counts`, async () => {
  const put: PutReading[] = [];
  const simulator = run.startSimulator({ devices: 40, rate: 600, malformedShare: 0.02, readings: READINGS, seed: 3 }, (r) => put.push(...r));
  const processor = run.plan.functions.find((f) => f.path.includes('Processor'))!;
  const pool = run.pools.get(processor.name)!;
  const processorMapping = run.pollers.find((p) => p.spec.functionName === processor.name)!;

  // Kill the processor's process once it is well into the stream, while it works on a batch.
  await waitFor(() => processorMapping.stats.recordsDone >= READINGS / 4 && pool.busy > 0, 'the processor to be a quarter through, busy');
  const killed = pool.processIds();
  expect(killed.length).toBeGreaterThan(0);
  for (const pid of killed) process.kill(pid, 'SIGKILL');

  await simulator.finished;
  expect(simulator.stats.put).toBe(READINGS);
  await run.waitUntilProcessed(READINGS, 240_000);

  // Every valid reading stored exactly once, with its value.
  const dynamo = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });
  const table = run.plan.tables.find((t) => t.path.includes('PipelineTable'))!.name;
  const stored = new Map<string, number>();
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const key = `${item.SensorId.S}|${item.Timestamp.S}`;
      expect(stored.has(key)).toBe(false);
      stored.set(key, Number(item.Value.N));
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  dynamo.destroy();
  expect(put).toHaveLength(simulator.stats.valid);
  expect(stored.size).toBe(simulator.stats.valid);
  const wrong = put.filter((r) => stored.get(`${r.sensorId}|${r.timestamp}`) !== r.value);
  expect(wrong).toEqual([]);

  // Every malformed record dead-lettered with its reason. A batch retried after
  // the crash may send a dead letter twice (SQS is at-least-once): distinct records count.
  const deadLetterQueue = run.plan.queues.find((q) => q.path.includes('DeadLetterQueue'))!.name;
  const letters = run.sqs.peekAll(deadLetterQueue).map((b) => JSON.parse(b) as { reason: string; sequenceNumber: string; payload: string });
  const reasons = Object.values(MALFORMED_REASONS);
  expect(letters.filter((l) => !reasons.some((r) => l.reason.includes(r)))).toEqual([]);
  expect(new Set(letters.map((l) => l.sequenceNumber)).size).toBe(simulator.stats.malformed);
  expect(simulator.stats.malformed).toBeGreaterThan(20);

  // Every record archived.
  const bucket = run.plan.buckets[0].name;
  const lines = await readArchive(run.endpoints.s3, bucket, (await run.listBucketObjects())[bucket]);
  expect(new Set(lines.map((l) => l.sequenceNumber)).size).toBe(READINGS);

  // Nothing skipped to the on-failure queues; the faults and the crash really happened.
  for (const q of run.plan.queues.filter((x) => x.path.includes('FailedBatches'))) expect(run.sqs.stats(q.name).sent).toBe(0);
  for (const p of run.pollers) expect(p.stats.recordsDiscarded).toBe(0);
  // The killed process was replaced (its batch, if it was still on one, was retried whole).
  expect(pool.stats.coldStarts).toBeGreaterThanOrEqual(2);
  expect(run.faultProxy!.totalFaults).toBeGreaterThan(10);
  expect(processorMapping.stats.retries).toBeGreaterThan(0);
  expect(warnings).toEqual([]);
});

test('the processor\'s replay function runs in the local run: a range put in its failed-batches queue is replayed, nothing stored twice', async () => {
  const processor = run.plan.functions.find((f) => f.path.includes('PipelineProcessorFunction'))!;
  const replay = run.plan.functions.find((f) => f.path.includes('PipelineProcessorReplayFunction'))!;
  const mapping = run.plan.mappings.find((m) => m.functionName === processor.name)!;
  const queue = run.plan.queues.find((q) => run.sqs.queueArn(q.name) === mapping.onFailureArn)!;
  expect(replay.environment.FAILED_BATCHES_QUEUE_URL).toBe(run.sqs.queueUrl(queue.name));
  const table = run.plan.tables.find((t) => t.path.includes('PipelineTable'))!.name;
  const aws = LocalAws.connect(run.endpoints);
  try {
    const items = async () => (await aws.scanTable(table)).map((i) => `${i.SensorId.S}|${i.Timestamp.S}|${i.Value.N}`).sort();
    const before = await items();
    // The record the mapping would send for a batch of 40 records it gave up on.
    const records = (await aws.shardReader(mapping.streamName).readAll()).slice(100, 140);
    run.sqs.sendInternal(mapping.onFailureArn!, JSON.stringify({
      requestContext: { requestId: 'r', functionArn: processor.arn, condition: 'RetryAttemptsExhausted', approximateInvokeCount: 11 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date().toISOString(),
      KinesisBatchInfo: {
        shardId: SHARD_ID,
        startSequenceNumber: records[0].sequenceNumber,
        endSequenceNumber: records[records.length - 1].sequenceNumber,
        batchSize: records.length,
        streamArn: mapping.streamArn,
      },
    }));
    // As `aws lambda invoke --endpoint-url <the run> --function-name <replay> out.json` does.
    const lambda = new LambdaClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoint });
    const out = await lambda.send(new InvokeCommand({ FunctionName: replay.name, Payload: Buffer.from('{}') }));
    lambda.destroy();
    expect(out.FunctionError).toBeUndefined();
    expect(JSON.parse(Buffer.from(out.Payload!).toString('utf8'))).toMatchObject({
      statusCode: 200, messages: 1, replayed: 1, records: 40, trimmed: [], left: [], stoppedBecause: 'no message to receive',
    });
    expect(run.sqs.stats(queue.name)).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await items()).toEqual(before);
  } finally {
    // Clients only: the servers are the run's.
    await aws.stop();
  }
});
