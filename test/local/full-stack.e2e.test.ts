/**
 * End to end on IotBackendFull's synthesized template: readings for two
 * sensors published to the local AWS IoT Core with the SDK's data-plane
 * client go through the topic rule onto the stream (keyed by sensor id),
 * through the processor reading from its stream consumer into the table, and
 * back out through the HTTP API's GET /readings route; a message the rule
 * cannot key goes to its error log. Then the simulator, publishing through
 * the rule, with exact counts.
 */
import { readFileSync } from 'fs';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { FULL_STACK, synthesizeExample, waitFor } from './helpers';
import { CREDENTIALS, MALFORMED_REASONS, REGION, ShardReader, StreamRecord } from '../../local/src';
import { LocalRun } from '../../local/src/runner/local-run';
import { PutReading } from '../../local/src/runner/simulator';

jest.setTimeout(120_000);

let run: LocalRun;
let iot: IoTDataPlaneClient;
let kinesis: KinesisClient;
const warnings: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({ cdkOut: synthesizeExample(), stacks: [FULL_STACK], port: 0, pollIntervalMs: 200, onWarning: (m) => warnings.push(m) });
  iot = new IoTDataPlaneClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoint });
  kinesis = new KinesisClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoints.kinesis, requestHandler: new NodeHttpHandler() });
});

afterAll(async () => {
  iot?.destroy();
  kinesis?.destroy();
  await run?.stop();
});

const streamName = () => run.plan.streams[0].name;
const apiUrl = () => run.plan.httpApis[0].stageUrls.$default;

async function streamRecords(): Promise<StreamRecord[]> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: streamName() }))).Shards ?? [];
  const out: StreamRecord[] = [];
  for (const s of shards) out.push(...await new ShardReader(kinesis, streamName(), s.ShardId!).readAll());
  return out;
}

interface Answer { readonly sensorId: string; readonly items: Array<{ timestamp: string; value: number }> }

/** GET /readings?sensorid=... through the HTTP API, until it lists `count` readings. */
async function queryUntil(sensor: string, count: number): Promise<Answer> {
  return waitFor(async () => {
    const res = await fetch(`${apiUrl()}readings?sensorid=${encodeURIComponent(sensor)}`);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Answer;
    return answer.items.length === count && answer;
  }, `${count} readings of ${sensor} through the HTTP API`, 60_000);
}

test('the full stack runs: topic rule, stream consumer, HTTP API; Firehose and Glue named as not emulated', () => {
  expect(run.plan.stacks).toEqual([FULL_STACK]);
  expect(run.plan.topicRules).toEqual([expect.objectContaining({ sqlText: "SELECT * FROM 'sensors/+/readings'", enabled: true })]);
  expect(run.plan.consumers).toHaveLength(1);
  expect(run.plan.mappings).toEqual([expect.objectContaining({ streamName: streamName(), batchSize: 500 })]);
  expect(run.plan.httpApis[0].routes.map((r) => `${r.routeKey} ${r.authorizationType}`)).toEqual(['GET /readings AWS_IAM', 'POST /readings AWS_IAM']);
  expect(run.plan.resources.filter((r) => r.action === 'not emulated').map((r) => r.type).sort())
    .toEqual(['AWS::Glue::Database', 'AWS::Glue::Table', 'AWS::KinesisFirehose::DeliveryStream']);
  expect(run.plan.outputs.find((o) => o.key === 'QueryUrl')?.localValue).toBe(apiUrl());
});

test('readings published for two sensors come back through the HTTP API, keyed on the stream by sensor id', async () => {
  const published = [
    { sensorid: 'kitchen', value: 21.5, timestamp: '2024-05-06T07:08:09Z' },
    { sensorid: 'garage', value: 4.5, timestamp: '2024-05-06T07:08:10Z' },
    { sensorid: 'kitchen', value: 22, timestamp: '2024-05-06T07:09:09Z' },
    { sensorid: 'garage', value: 3.25, timestamp: '2024-05-06T07:09:10Z' },
    { sensorid: 'kitchen', value: 22.75, timestamp: '2024-05-06T07:10:09Z' },
  ];
  for (const r of published) {
    await iot.send(new PublishCommand({ topic: `sensors/${r.sensorid}/readings`, qos: 1, payload: Buffer.from(JSON.stringify(r)) }));
  }
  // No sensor id to key the record with: the rule's error action takes it.
  const unkeyed = JSON.stringify({ value: 1, timestamp: '2024-05-06T07:11:00Z' });
  await iot.send(new PublishCommand({ topic: 'sensors/attic/readings', payload: Buffer.from(unkeyed) }));
  // Another topic: no rule matches.
  await iot.send(new PublishCommand({ topic: 'sensors/attic/status', payload: Buffer.from('{"sensorid":"attic"}') }));

  const kitchen = await queryUntil('kitchen', 3);
  expect(kitchen).toEqual({
    sensorId: 'kitchen',
    items: [
      { timestamp: '2024-05-06T07:10:09.000Z', value: 22.75 },
      { timestamp: '2024-05-06T07:09:09.000Z', value: 22 },
      { timestamp: '2024-05-06T07:08:09.000Z', value: 21.5 },
    ],
  });
  const garage = await queryUntil('garage', 2);
  expect(garage.items).toEqual([{ timestamp: '2024-05-06T07:09:10.000Z', value: 3.25 }, { timestamp: '2024-05-06T07:08:10.000Z', value: 4.5 }]);
  // POST on the same API, the JSON body the handler takes.
  const post = await fetch(`${apiUrl()}readings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sensorid: 'garage', limit: 1 }) });
  expect(((await post.json()) as Answer).items).toEqual([garage.items[0]]);

  // On the stream: each reading once, as published, with its sensor id as the partition key.
  const records = await streamRecords();
  expect(records.map((r) => [r.partitionKey, JSON.parse(Buffer.from(r.data).toString('utf8'))]))
    .toEqual(published.map((r) => [r.sensorid, r]));

  // The error action's log: AWS IoT's message, with the payload as published.
  expect(run.errorActionMessages).toHaveLength(1);
  const [{ logGroupName, message }] = run.errorActionMessages;
  expect(run.plan.topicRules[0].errorAction).toEqual({ kind: 'cloudwatch-logs', logGroupName });
  expect(logGroupName).toMatch(/^IotBackendFull-PipelineIngressErrorLogs/);
  expect(message).toMatchObject({ topic: 'sensors/attic/readings', failures: [{ failedAction: 'KinesisAction', failedResource: streamName() }] });
  expect(Buffer.from(message.base64OriginalPayload, 'base64').toString('utf8')).toBe(unkeyed);
  await waitFor(() => readFileSync(run.logFile(logGroupName), 'utf8').includes(message.cloudwatchTraceId), 'the error log line on disk');

  // Firehose is not emulated: its archive stays empty.
  const archive = run.plan.buckets.find((b) => b.path.includes('ArchiverBucket'))!.name;
  expect((await run.listBucketObjects())[archive]).toEqual([]);
  expect(warnings).toEqual([]);
});

test('the simulator publishing through the topic rule: every reading accounted for', async () => {
  const put: PutReading[] = [];
  const errorsBefore = run.errorActionMessages.length;
  const recordsBefore = (await streamRecords()).length;
  const simulator = run.startSimulator({ devices: 8, rate: 400, malformedShare: 0.1, readings: 400, seed: 5, sensorPrefix: 'sim' }, (r) => put.push(...r), { ingress: 'iot' });
  expect(run.simulatorSink).toBe('publish to AWS IoT Core on sensors/{sensor}/readings');
  await simulator.finished;
  const stats = simulator.stats;
  expect(stats.sent).toBe(400);
  expect(stats.put + stats.notPut).toBe(400);
  // Bad JSON and a missing sensor id cannot be keyed: the rule's error action takes them, and only them.
  expect(stats.byKind['bad JSON'] + stats.byKind['missing sensorid']).toBe(0);
  const refused = run.errorActionMessages.slice(errorsBefore).map((e) => Buffer.from(e.message.base64OriginalPayload, 'base64').toString('utf8'));
  expect(refused).toHaveLength(stats.notPut);
  expect(stats.notPut).toBeGreaterThan(0);
  const unkeyable = (payload: string) => {
    try {
      return (JSON.parse(payload) as { sensorid?: unknown }).sensorid === undefined;
    } catch {
      return true;
    }
  };
  expect(refused.filter((p) => !unkeyable(p))).toEqual([]);
  // The others reached the stream, and the processor read them all.
  expect((await streamRecords()).length - recordsBefore).toBe(stats.put);
  await run.waitUntilProcessed(recordsBefore + stats.put, 60_000);

  const dynamo = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });
  const table = run.plan.tables[0].name;
  const stored = new Map<string, number>();
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) if (item.SensorId.S!.startsWith('sim-')) stored.set(`${item.SensorId.S}|${item.Timestamp.S}`, Number(item.Value.N));
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  dynamo.destroy();
  expect(put).toHaveLength(stats.valid);
  expect(stored.size).toBe(stats.valid);
  expect(put.filter((r) => stored.get(`${r.sensorId}|${r.timestamp}`) !== r.value)).toEqual([]);

  const deadLetters = run.sqs.peekAll(run.plan.queues.find((q) => q.path.includes('DeadLetterQueue'))!.name)
    .map((b) => JSON.parse(b) as { reason: string; partitionKey: string })
    .filter((l) => l.partitionKey.startsWith('sim-'));
  expect(deadLetters).toHaveLength(stats.malformed);
  const reasons = [MALFORMED_REASONS['non-numeric value'], MALFORMED_REASONS['bad timestamp']];
  expect(deadLetters.filter((l) => !reasons.some((r) => l.reason.includes(r)))).toEqual([]);
  expect(warnings).toEqual([]);
});
