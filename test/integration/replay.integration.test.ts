/**
 * The failed-batch replay end to end, with the bundles that ship: the
 * processor consumes a stream (kinesalite) through the local event source
 * mapping while its table (dynalite) is unreachable behind the fault proxy,
 * so that the mapping gives its batches up to the failed-batches queue (the
 * local SQS); then the replay function, invoked through the local Lambda API
 * as `aws lambda invoke` would, reads each range back from the stream and
 * invokes the processor with it. The same for the archiver, with S3 failing.
 */
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { BUNDLE_DIR } from './bundles';
import { FailingS3Proxy } from './failing-s3-proxy';
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
const ARCHIVE = 'sensor-archive-replay';
const ARCHIVER = 'sensor-archiver';
const ARCHIVER_QUEUE = 'archiver-failed-batches';

let aws: LocalAws;
let proxy: FaultProxy;
let s3: FailingS3Proxy;
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
  await aws.createBucket(ARCHIVE);
  // The archive is unreachable until the third test: every PUT answers 500 InternalError.
  s3 = await FailingS3Proxy.start(aws.s3.endpoint, (req) => req.method === 'PUT');
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
  sqs.createQueue(ARCHIVER_QUEUE, { visibilityTimeoutSeconds: 30 });
  const env = aws.handlerEnv({ AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint });
  // 5 seconds: the processor stops retrying with 4 s left, so a batch fails in about a second.
  pool(PROCESSOR, 'processor', 5, { ...env, TABLE_NAME: TABLE, DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTERS}/rejected/` });
  pool(ARCHIVER, 'archiver', 10, { ...env, AWS_ENDPOINT_URL_S3: s3.endpoint, ARCHIVE_BUCKET: ARCHIVE, ARCHIVE_PREFIX: 'raw/' });
  const replayEnv = (queue: string, target: string) => ({
    ...env,
    AWS_ENDPOINT_URL_SQS: gateway.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: gateway.endpoint,
    AWS_ENDPOINT_URL_KINESIS: aws.kinesis.endpoint,
    FAILED_BATCHES_QUEUE_URL: sqs.queueUrl(queue),
    STREAM_ARN,
    TARGET_FUNCTION: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${target}`,
    INVOKE_IDENTITY_ARN: `arn:aws:iam::${ACCOUNT}:role/${target}-role`,
    BATCH_SIZE: String(BATCH_SIZE),
    REPORT_BATCH_ITEM_FAILURES: 'true',
  });
  // 20 seconds: a message left is hidden for the rest of the run, and visible again soon after.
  pool('sensor-replay', 'replay', 20, { ...replayEnv(QUEUE, PROCESSOR), TARGET_TIMEOUT_SECONDS: '5' });
  pool('archiver-replay', 'replay', 60, { ...replayEnv(ARCHIVER_QUEUE, ARCHIVER), TARGET_TIMEOUT_SECONDS: '10' });
  lambda = new LambdaClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
});

afterAll(async () => {
  lambda?.destroy();
  await Promise.all([...pools.values()].map((p) => p.stop()));
  sqs.close();
  await gateway?.close();
  await proxy?.close();
  await s3?.close();
  await aws?.stop();
});

const checkpoints = new Map<string, string>();

/** The local event source mapping of a function: one retry, then the batch goes to its failed-batches queue. */
async function runMapping(records: number, fn = PROCESSOR, queue = QUEUE): Promise<EventSourceMappingPoller> {
  const spec: MappingSpec = {
    path: `Test/${fn}Mapping`,
    uuid: `${fn}-mapping`,
    functionName: fn,
    functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fn}`,
    streamName: STREAM,
    streamArn: STREAM_ARN,
    region: REGION,
    invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/${fn}-role`,
    batchSize: BATCH_SIZE,
    batchingWindowMs: 0,
    startingPosition: 'TRIM_HORIZON',
    reportBatchItemFailures: true,
    maximumRetryAttempts: 1,
    maximumRecordAgeSeconds: -1,
    bisectOnError: false,
    parallelizationFactor: 1,
    onFailureArn: sqs.queueArn(queue),
  };
  const poller = new EventSourceMappingPoller(spec, {
    kinesis: aws.kinesisClient,
    checkpoints: { get: (u, s) => checkpoints.get(`${u}/${s}`), set: (u, s, v) => checkpoints.set(`${u}/${s}`, v) },
    pollIntervalMs: 100,
    invoke: (payload) => pools.get(fn)!.invoke(payload),
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

async function invokeReplay(payload: unknown = {}, name = 'sensor-replay'): Promise<ReplaySummary> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));
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
    stoppedBecause: 'no message to receive',
  });
  expect(sqs.stats(QUEUE)).toMatchObject({ visible: 0, inFlight: 0 });
  const stored = await tableReadings();
  expect(stored).toEqual(expectedReadings(records));

  // Every malformed record is dead-lettered once, with its reason: before the first failure of a given-up batch by
  // the mapping's invocations, from it on by the replay's.
  const keys = await aws.listKeys(DEAD_LETTERS, 'rejected/');
  const letters = new Map<string, string[]>();
  for (const key of keys) {
    for (const line of (await aws.getObject(DEAD_LETTERS, key)).body.toString('utf8').split('\n').filter(Boolean)) {
      const l = JSON.parse(line) as { sequenceNumber: string; reason: string };
      letters.set(l.sequenceNumber, [...(letters.get(l.sequenceNumber) ?? []), l.reason]);
    }
  }
  const malformed = records.flatMap((r, i) => (r.malformed ? [[sequenceNumbers[i], MALFORMED_REASONS[r.malformed]] as const] : []));
  expect(malformed.length).toBe(16);
  for (const [seq, reason] of malformed) expect(letters.get(seq)).toEqual([expect.stringContaining(reason)]);
  expect(letters.size).toBe(malformed.length);

  // A second run finds the queue empty: nothing is replayed twice.
  expect(await invokeReplay()).toMatchObject({ messages: 0, replayed: 0, records: 0, stoppedBecause: 'no message to receive' });
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
  expect(failed).toMatchObject({ messages: 2, replayed: 0, records: 0, invocations: 3, stoppedBecause: 'no message to receive' });
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
  expect(await invokeReplay()).toMatchObject({ messages: 0, stoppedBecause: 'no message to receive' });

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

test('the archiver\'s batches given up while S3 failed are replayed into the same objects: every record archived exactly once', async () => {
  const records = (await aws.shardReader(STREAM).readAll()).map((r) => r.sequenceNumber);
  expect(records).toHaveLength(690);
  const mapping = await runMapping(records.length, ARCHIVER, ARCHIVER_QUEUE);
  expect(mapping.stats.recordsDiscarded).toBe(records.length);
  expect(s3.failed).toBeGreaterThan(0);
  expect(await aws.listKeys(ARCHIVE)).toEqual([]);
  const starts = sqs.peekAll(ARCHIVER_QUEUE).map((b) => JSON.parse(b).KinesisBatchInfo.startSequenceNumber as string);
  // The archiver gives up whole batches: the ranges are the mapping's batches.
  expect(starts).toHaveLength(Math.ceil(records.length / BATCH_SIZE));

  s3.healthy = true;
  const summary = await invokeReplay({}, 'archiver-replay');
  expect(summary).toMatchObject({ messages: starts.length, replayed: starts.length, records: records.length, left: [], trimmed: [] });
  const keys = await aws.listKeys(ARCHIVE, 'raw/');
  const archived = new Map<string, number>();
  for (const key of keys) {
    const lines = gunzipSync((await aws.getObject(ARCHIVE, key)).body).toString('utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      const seq = (JSON.parse(line) as { sequenceNumber: string }).sequenceNumber;
      archived.set(seq, (archived.get(seq) ?? 0) + 1);
    }
  }
  expect(records.filter((seq) => archived.get(seq) !== 1)).toEqual([]);
  expect(archived.size).toBe(records.length);
  // Named after the given-up batches: each batch's first record names one of its objects.
  const named = new Set(keys.map((k) => /-(\d+)\.ndjson\.gz$/.exec(k)![1]));
  for (const start of starts) expect(named.has(start)).toBe(true);
  console.log(`archiver replay: ${starts.length} batches given up, ${summary.records} records replayed into ${keys.length} objects, each record archived once`);
});
