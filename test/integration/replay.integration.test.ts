/**
 * The failed-batch replay end to end, with the bundles that ship: the
 * processor consumes a stream (kinesalite) through the local event source
 * mapping while its table (dynalite) is unreachable behind the fault proxy,
 * so that the mapping gives its batches up to the failed-batches queue (the
 * local SQS); then the replay function, invoked through the local Lambda API
 * as `aws lambda invoke` would, reads each range back from the stream and
 * invokes the processor with it.
 */
import * as path from 'path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { BUNDLE_DIR } from './bundles';
import {
  ACCOUNT, CREDENTIALS, DeviceRecord, FaultProxy, LocalAws, makeDeviceRecords, MALFORMED_REASONS, REGION, SHARD_ID,
} from '../../local/src';
import { EventSourceMappingPoller, MappingSpec } from '../../local/src/runner/event-source-mapping';
import { Gateway } from '../../local/src/runner/gateway';
import { bootstrapFile, CpuLimiter, FunctionPool } from '../../local/src/runner/lambda-runtime';
import { SqsServer } from '../../local/src/runner/sqs-server';
import type { ReplaySummary } from '../../src/handlers/replay.lambda';

jest.setTimeout(240_000);

const TABLE = 'sensor-data-replay';
const DEAD_LETTERS = 'dead-letters';
const QUEUE = 'processor-failed-batches';
const BATCH_SIZE = 100;
const STREAM = 'sensor-stream-replay';
const STREAM_ARN = `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${STREAM}`;
const PROCESSOR = 'sensor-processor';
const PROCESSOR_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${PROCESSOR}`;
const PROCESSOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/${PROCESSOR}-role`;

let aws: LocalAws;
let proxy: FaultProxy;
let gateway: Gateway;
let lambda: LambdaClient;
const sqs = new SqsServer(REGION, ACCOUNT, () => gateway.endpoint);
const pools = new Map<string, FunctionPool>();
const logs: string[] = [];
const warnings: string[] = [];

function pool(name: string, bundle: string, timeoutSeconds: number, environment: Record<string, string | undefined>): FunctionPool {
  const env = Object.fromEntries(Object.entries({ ...environment, PATH: process.env.PATH }).filter((e): e is [string, string] => e[1] !== undefined));
  const p = new FunctionPool({
    name,
    arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
    path: `Test/${name}`,
    codeDirectory: path.join(BUNDLE_DIR, `${bundle}.lambda`),
    handler: 'index.handler',
    runtime: 'nodejs24.x',
    timeoutSeconds,
    memoryMb: 512,
    environment: env,
    maxConcurrency: 2,
  }, bootstrapFile(), { log: (fn, line) => logs.push(`${fn}: ${line}`), emf: () => false }, new CpuLimiter(false));
  pools.set(name, p);
  return p;
}

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createSensorTable(TABLE);
  await aws.createBucket(DEAD_LETTERS);
  await aws.createStream(STREAM);
  // The table is unreachable: every BatchWriteItem answers HTTP 500.
  proxy = await FaultProxy.start({ target: aws.dynamo.endpoint, faultTarget: 'DynamoDB_20120810.BatchWriteItem', faultRate: 1, kinds: ['error500'], seed: 1 });
  gateway = await Gateway.start({
    port: 0,
    pageDirectory: __dirname,
    config: () => ({}),
    services: [sqs],
    passThrough: { Kinesis_20131202: () => aws.kinesis.endpoint },
    lambda: {
      find: (nameOrArn) => {
        const name = nameOrArn.startsWith('arn:') ? nameOrArn.split(':')[6] : nameOrArn;
        const p = pools.get(name);
        return p && { name, arn: p.spec.arn, invoke: (payload: string) => p.invoke(payload) };
      },
      list: () => [],
    },
  });
  sqs.createQueue(QUEUE, { visibilityTimeoutSeconds: 30 });
  const env = aws.handlerEnv({ AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint });
  // 5 seconds: the processor stops retrying with 4 s left, so a batch fails in about a second.
  pool(PROCESSOR, 'processor', 5, { ...env, TABLE_NAME: TABLE, DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTERS}/rejected/` });
  // 20 seconds: a message left is hidden for the rest of the run, and visible again soon after.
  pool('sensor-replay', 'replay', 20, {
    ...env,
    AWS_ENDPOINT_URL_SQS: gateway.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: gateway.endpoint,
    AWS_ENDPOINT_URL_KINESIS: aws.kinesis.endpoint,
    FAILED_BATCHES_QUEUE_URL: sqs.queueUrl(QUEUE),
    STREAM_ARN,
    TARGET_FUNCTION: PROCESSOR_ARN,
    INVOKE_IDENTITY_ARN: PROCESSOR_ROLE,
    BATCH_SIZE: String(BATCH_SIZE),
    REPORT_BATCH_ITEM_FAILURES: 'true',
    TARGET_TIMEOUT_SECONDS: '5',
  });
  lambda = new LambdaClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
});

afterAll(async () => {
  lambda?.destroy();
  await Promise.all([...pools.values()].map((p) => p.stop()));
  sqs.close();
  await gateway?.close();
  await proxy?.close();
  await aws?.stop();
});

/** The local event source mapping of the processor: one retry, then the batch goes to the failed-batches queue. */
const checkpoints = new Map<string, string>();

async function runMapping(records: number): Promise<EventSourceMappingPoller> {
  const spec: MappingSpec = {
    path: 'Test/ProcessorMapping',
    uuid: 'processor-mapping',
    functionName: PROCESSOR,
    functionArn: PROCESSOR_ARN,
    streamName: STREAM,
    streamArn: STREAM_ARN,
    region: REGION,
    invokeIdentityArn: PROCESSOR_ROLE,
    batchSize: BATCH_SIZE,
    batchingWindowMs: 0,
    startingPosition: 'TRIM_HORIZON',
    reportBatchItemFailures: true,
    maximumRetryAttempts: 1,
    maximumRecordAgeSeconds: -1,
    bisectOnError: false,
    parallelizationFactor: 1,
    onFailureArn: sqs.queueArn(QUEUE),
  };
  const poller = new EventSourceMappingPoller(spec, {
    kinesis: aws.kinesisClient,
    checkpoints: { get: (u, s) => checkpoints.get(`${u}/${s}`), set: (u, s, v) => checkpoints.set(`${u}/${s}`, v) },
    pollIntervalMs: 100,
    invoke: (payload) => pools.get(PROCESSOR)!.invoke(payload),
    sendToDestination: async (arn, message) => sqs.sendInternal(arn, message),
    warn: (m) => warnings.push(m),
  });
  poller.start();
  const deadline = Date.now() + 120_000;
  while (poller.stats.recordsDone < records) {
    if (Date.now() > deadline) throw new Error(`the mapping finished ${poller.stats.recordsDone} of ${records} records`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await poller.stop();
  return poller;
}

async function invokeReplay(payload: unknown = {}): Promise<ReplaySummary> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'sensor-replay', Payload: Buffer.from(JSON.stringify(payload)) }));
  const body = Buffer.from(out.Payload!).toString('utf8');
  expect({ functionError: out.FunctionError, body }).toEqual({ functionError: undefined, body: expect.any(String) });
  return JSON.parse(body) as ReplaySummary;
}

/** Every key once, with its value: the valid readings of `records`, nothing else. */
async function tableReadings(): Promise<Map<string, number>> {
  const stored = new Map<string, number>();
  for (const item of await aws.scanTable(TABLE)) {
    const key = `${item.SensorId.S}|${item.Timestamp.S}`;
    expect(stored.has(key)).toBe(false);
    stored.set(key, Number(item.Value.N));
  }
  return stored;
}

const expectedReadings = (records: readonly DeviceRecord[]) =>
  new Map(records.filter((r) => r.expected).map((r) => [`${r.expected!.sensorId}|${r.expected!.timestamp}`, r.expected!.value]));

test('batches given up while the table is unreachable are replayed once it is back: every reading stored exactly once', async () => {
  const records = makeDeviceRecords({ count: 640, malformedEvery: 40, sensors: 12, seed: 5 });
  const sequenceNumbers = await aws.putRecords(STREAM, records);
  const mapping = await runMapping(records.length);

  // The mapping gave every batch up: nothing stored, one message per batch, ranges that cover the stream.
  expect(mapping.stats.recordsDiscarded).toBe(records.length);
  expect(await tableReadings()).toEqual(new Map());
  const bodies = sqs.peekAll(QUEUE).map((b) => JSON.parse(b));
  expect(bodies.length).toBe(mapping.stats.destinationMessages);
  expect(bodies.length).toBeGreaterThanOrEqual(Math.ceil(records.length / BATCH_SIZE));
  for (const b of bodies) {
    expect(b).toMatchObject({ requestContext: { condition: 'RetryAttemptsExhausted', functionArn: PROCESSOR_ARN }, KinesisBatchInfo: { shardId: SHARD_ID, streamArn: STREAM_ARN } });
  }
  const discarded = bodies.reduce((n, b) => n + b.KinesisBatchInfo.batchSize, 0);
  // A batch whose first record was malformed (and dead-lettered) is given up from its second.
  expect(discarded).toBeLessThanOrEqual(records.length);
  expect(discarded).toBeGreaterThan(records.length - bodies.length);

  // The table is back; the user invokes the replay.
  proxy.enabled = false;
  const started = Date.now();
  const summary = await invokeReplay();
  console.log([
    `replay of ${records.length} records given up in ${bodies.length} batches by the mapping (table unreachable, 1 retry):`,
    `  mapping: invocations ${mapping.stats.invocations}, records given up ${mapping.stats.recordsDiscarded}, messages ${mapping.stats.destinationMessages}`,
    `  replay: messages ${summary.messages}, replayed ${summary.replayed}, records ${summary.records}, invocations ${summary.invocations}, ${Date.now() - started} ms`,
  ].join('\n'));
  expect(summary).toEqual({
    statusCode: 200,
    messages: bodies.length,
    replayed: bodies.length,
    records: discarded,
    invocations: bodies.length,
    trimmed: [],
    left: [],
    stoppedBecause: 'the queue is empty',
  });
  expect(sqs.stats(QUEUE)).toMatchObject({ visible: 0, inFlight: 0 });
  const stored = await tableReadings();
  expect(stored).toEqual(expectedReadings(records));

  // Every malformed record is dead-lettered, with its reason (again by the replay: one object per batch, overwritten).
  const keys = await aws.listKeys(DEAD_LETTERS, 'rejected/');
  const letters = new Map<string, string>();
  for (const key of keys) {
    for (const line of (await aws.getObject(DEAD_LETTERS, key)).body.toString('utf8').split('\n').filter(Boolean)) {
      const l = JSON.parse(line) as { sequenceNumber: string; reason: string };
      letters.set(l.sequenceNumber, l.reason);
    }
  }
  const malformed = records.flatMap((r, i) => (r.malformed ? [[sequenceNumbers[i], MALFORMED_REASONS[r.malformed]] as const] : []));
  expect(malformed.length).toBe(16);
  for (const [seq, reason] of malformed) expect(letters.get(seq)).toContain(reason);
  expect(keys.length).toBeLessThanOrEqual(bodies.length);

  // A second run finds the queue empty: nothing is replayed twice.
  expect(await invokeReplay()).toMatchObject({ messages: 0, replayed: 0, records: 0, stoppedBecause: 'the queue is empty' });
  expect(await tableReadings()).toEqual(expectedReadings(records));
  expect(warnings).toEqual([]);
});

test('a batch that still fails is left in the queue, tried once per run; a range whose shard is gone is reported, not looped on', async () => {
  proxy.enabled = true;
  const before = await tableReadings();
  const records = makeDeviceRecords({ count: 50, malformedEvery: 0, sensors: 3, seed: 9, start: Date.UTC(2024, 5, 1) });
  await aws.putRecords(STREAM, records);
  // The mapping goes on from its checkpoint, after the first test's records: this batch too is given up.
  const mapping = await runMapping(records.length);
  expect(mapping.stats.destinationMessages).toBe(1);
  // Beside it, the record of a range on a shard the stream no longer has.
  sqs.sendInternal(sqs.queueArn(QUEUE), JSON.stringify({
    requestContext: { functionArn: PROCESSOR_ARN, condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: { shardId: 'shardId-000000000007', startSequenceNumber: '1', endSequenceNumber: '2', batchSize: 2, streamArn: STREAM_ARN },
  }));
  const writes = proxy.counts.calls['DynamoDB_20120810.BatchWriteItem'];

  // Still unreachable: each message is tried once, the batch three times, and both are left.
  const failed = await invokeReplay();
  expect(failed).toMatchObject({ messages: 2, replayed: 0, records: 0, invocations: 3, stoppedBecause: 'the queue is empty' });
  expect(failed.trimmed).toEqual([expect.objectContaining({ shardId: 'shardId-000000000007', reason: expect.stringContaining('the shard is no longer in the stream') })]);
  expect(failed.left).toHaveLength(2);
  expect(failed.left.map((l) => l.reason)).toEqual(expect.arrayContaining([
    expect.stringMatching(/^the function did not finish \d+: the function reported \d+ as failed \(3 attempts\)$/),
    expect.stringContaining('the shard is no longer in the stream'),
  ]));
  expect(proxy.counts.calls['DynamoDB_20120810.BatchWriteItem']).toBeGreaterThan(writes);
  expect(await tableReadings()).toEqual(before);
  // Left, not deleted: hidden until the run's visibility timeout ends, so a second run now finds nothing.
  expect(sqs.stats(QUEUE)).toMatchObject({ visible: 0, inFlight: 2 });
  expect(await invokeReplay()).toMatchObject({ messages: 0, stoppedBecause: 'the queue is empty' });

  // Once the run's time is over the messages are visible again; with the table back, the next run replays the batch.
  proxy.enabled = false;
  const deadline = Date.now() + 60_000;
  while (sqs.stats(QUEUE).visible < 2) {
    if (Date.now() > deadline) throw new Error('the messages left did not become visible again');
    await new Promise((r) => setTimeout(r, 500));
  }
  const replayed = await invokeReplay();
  expect(replayed).toMatchObject({ messages: 2, replayed: 1, records: records.length, invocations: 1 });
  expect(replayed.left).toEqual([expect.objectContaining({ shardId: 'shardId-000000000007' })]);
  expect(await tableReadings()).toEqual(new Map([...before, ...expectedReadings(records)]));
  expect(warnings).toEqual([]);
});
