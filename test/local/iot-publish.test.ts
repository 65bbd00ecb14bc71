/**
 * The local run's AWS IoT Core: the data plane's Publish on the gateway,
 * driven by the AWS SDK's own IoT data-plane client, into topic rules whose
 * Kinesis actions put records on kinesalite; failed actions go to the
 * CloudWatch Logs error action in AWS IoT's message format.
 */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { App, Stack } from 'aws-cdk-lib';
import { waitFor } from './helpers';
import { CREDENTIALS, LocalServer, REGION, ShardReader, startKinesalite, StreamRecord } from '../../local/src';
import { readCloudAssembly } from '../../local/src/runner/assembly';
import { Plan, planDeployment } from '../../local/src/runner/deployment';
import { Gateway } from '../../local/src/runner/gateway';
import { ErrorActionMessage, IotRules, TopicRulePlan } from '../../local/src/runner/iot-rules';
import { parseRuleSql, parseTemplate } from '../../local/src/runner/iot-sql';
import { Ingress, SensorIngestPipeline } from '../../src';

jest.setTimeout(60_000);

const STREAM = 'device-readings';
let kinesalite: LocalServer;
let kinesis: KinesisClient;
let gateway: Gateway;
let rules: IotRules;
let iot: IoTDataPlaneClient;
const errorLog: Array<{ logGroupName: string; message: ErrorActionMessage }> = [];
const warnings: string[] = [];

const rule = (name: string, sql: string, partitionKey: string | undefined, extra: Partial<TopicRulePlan> = {}): TopicRulePlan => ({
  path: `Test/${name}`,
  ruleName: name,
  sqlText: sql,
  sql: parseRuleSql(sql),
  enabled: true,
  kinesisActions: [{
    streamName: [STREAM], partitionKey: partitionKey === undefined ? undefined : parseTemplate(partitionKey), partitionKeyText: partitionKey,
  }],
  errorAction: { kind: 'cloudwatch-logs', logGroupName: '/iot/rule-errors' },
  ...extra,
});

beforeAll(async () => {
  kinesalite = await startKinesalite();
  kinesis = new KinesisClient({ region: REGION, credentials: CREDENTIALS, endpoint: kinesalite.endpoint, requestHandler: new NodeHttpHandler() });
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 2 }));
  await waitFor(async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE', 'the stream');
  rules = new IotRules([
    rule('Readings', "SELECT * FROM 'sensors/+/readings'", '${sensorid}'),
    rule('Alerts', "SELECT sensorid, value, topic(2) AS device FROM 'alerts/#' WHERE value > 30 AND NOT muted = true", '${topic(2)}', { errorAction: undefined }),
    rule('Disabled', "SELECT * FROM 'sensors/+/readings'", 'never', { enabled: false }),
  ], {
    kinesis,
    logError: (logGroupName, message) => errorLog.push({ logGroupName, message }),
    warn: (m) => warnings.push(m),
  });
  gateway = await Gateway.start({
    port: 0,
    pageDirectory: __dirname,
    config: () => ({}),
    services: [],
    passThrough: {},
    iot: () => rules,
    lambda: { find: () => undefined, list: () => [] },
  });
  iot = new IoTDataPlaneClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
});

afterAll(async () => {
  iot?.destroy();
  kinesis?.destroy();
  await gateway?.close();
  await kinesalite?.close();
});

async function allRecords(): Promise<StreamRecord[]> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: STREAM }))).Shards ?? [];
  const records: StreamRecord[] = [];
  for (const s of shards) records.push(...await new ShardReader(kinesis, STREAM, s.ShardId!).readAll());
  return records;
}

const text = (r: StreamRecord) => Buffer.from(r.data).toString('utf8');
const publish = (topic: string, payload: string, more: { qos?: number; retain?: boolean } = {}) =>
  iot.send(new PublishCommand({ topic, payload: Buffer.from(payload, 'utf8'), ...more }));

test('readings published on sensors/<id>/readings reach the stream as published, keyed by their sensor id', async () => {
  const sent = [
    '{"sensorid": "kitchen", "value": 21.5, "timestamp": "2024-05-06T07:08:09Z"}',
    '{"sensorid":"garage","value":4.25,"timestamp":"2024-05-06T07:08:10Z"}',
    '{"sensorid": "kitchen", "value": 22, "timestamp": "2024-05-06T07:08:11Z"}',
  ];
  await publish('sensors/kitchen/readings', sent[0]);
  await publish('sensors/garage/readings', sent[1], { qos: 1 });
  await publish('sensors/kitchen/readings', sent[2], { qos: 0, retain: true });
  const records = await allRecords();
  expect(records.map((r) => [r.partitionKey, text(r)]).sort()).toEqual([
    ['garage', sent[1]], ['kitchen', sent[0]], ['kitchen', sent[2]],
  ].sort());
  const stats = rules.stats.get('Readings')!;
  expect(stats).toMatchObject({ matched: 3, actedOn: 3, recordsPut: 3, actionFailures: 0, errorActionMessages: 0 });
  // The disabled rule on the same topic never acts.
  expect(rules.stats.get('Disabled')!.matched).toBe(0);
  expect(errorLog).toEqual([]);
});

test('a message the Kinesis action cannot put (no sensor id to key it) goes to the error action, in AWS IoT\'s format', async () => {
  const before = (await allRecords()).length;
  const noId = '{"value": 20.5, "timestamp": "2024-05-06T07:08:12Z"}';
  const notJson = '{"sensorid": "kitchen", "value": 1';
  await publish('sensors/kitchen/readings', noId);
  await publish('sensors/kitchen/readings', notJson);
  expect(await allRecords()).toHaveLength(before);
  expect(errorLog).toHaveLength(2);
  const [first, second] = errorLog;
  expect(first.logGroupName).toBe('/iot/rule-errors');
  expect(first.message).toMatchObject({
    ruleName: 'Readings',
    topic: 'sensors/kitchen/readings',
    clientId: 'n/a',
    base64OriginalPayload: Buffer.from(noId).toString('base64'),
    failures: [{ failedAction: 'KinesisAction', failedResource: STREAM }],
  });
  expect(first.message.cloudwatchTraceId).toMatch(/^[0-9a-f-]{36}$/);
  // kinesalite refuses the empty partition key the template renders to, as Kinesis does.
  expect(first.message.failures[0].errorMessage).toMatch(/^Failed to put record in Kinesis stream\. The error received was .*partitionKey.*Error Code: ValidationException/);
  expect(Buffer.from(second.message.base64OriginalPayload, 'base64').toString('utf8')).toBe(notJson);
  expect(rules.stats.get('Readings')).toMatchObject({ actionFailures: 2, errorActionMessages: 2 });
});

test('a select list, WHERE and a ${topic(n)} key: only matching messages, the selected fields, keyed by topic level', async () => {
  const before = new Set((await allRecords()).map((r) => r.sequenceNumber));
  await publish('alerts/boiler/temperature', '{"sensorid": "boiler", "value": 31, "muted": false, "noise": "x"}');
  await publish('alerts/boiler/temperature', '{"sensorid": "boiler", "value": 29}');
  await publish('alerts/boiler/temperature', '{"sensorid": "boiler", "value": 45, "muted": true}');
  await publish('alerts/pump', 'binary, not JSON');
  const added = (await allRecords()).filter((r) => !before.has(r.sequenceNumber));
  expect(added.map((r) => [r.partitionKey, JSON.parse(text(r))])).toEqual([['boiler', { sensorid: 'boiler', value: 31, device: 'boiler' }]]);
  expect(rules.stats.get('Alerts')).toMatchObject({ matched: 4, actedOn: 1, recordsPut: 1 });
});

test('what the data plane refuses: a wildcard topic, a QoS above 1, a payload above 128 KiB, another method', async () => {
  const error = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error & { $metadata?: { httpStatusCode?: number } }) => `${e.name} ${e.$metadata?.httpStatusCode}: ${e.message}`);
  expect(await error(publish('sensors/+/readings', '{}'))).toBe('InvalidRequestException 400: the topic sensors/+/readings holds a wildcard ("+" or "#"): a message is published to one topic');
  expect(await error(publish('sensors/s1/readings', '{}', { qos: 2 }))).toBe('InvalidRequestException 400: qos 2: the QoS of a published message is 0 or 1');
  expect(await error(publish('a/b/c/d/e/f/g/h/i', '{}'))).toBe('InvalidRequestException 400: the topic has more than 7 forward slashes');
  expect(await error(publish('$aws/rules/Readings/x', '{}'))).toMatch(/^InvalidRequestException 400: Basic Ingest topics/);
  expect(await error(publish('sensors/s1/readings', 'x'.repeat(128 * 1024 + 1))))
    .toBe(`RequestEntityTooLargeException 413: the payload is ${128 * 1024 + 1} bytes; AWS IoT takes ${128 * 1024} at most`);
  const get = await fetch(`${gateway.endpoint}/topics/sensors%2Fs1%2Freadings`);
  expect(get.status).toBe(405);
  expect(get.headers.get('x-amzn-errortype')).toBe('MethodNotAllowedException');
  // A client that does not encode the topic's slashes reaches the same topic.
  const before = rules.stats.get('Readings')!.recordsPut;
  const raw = await fetch(`${gateway.endpoint}/topics/sensors/porch/readings?qos=1`, { method: 'POST', body: '{"sensorid":"porch","value":1}' });
  expect(raw.status).toBe(200);
  expect(rules.stats.get('Readings')!.recordsPut).toBe(before + 1);
  expect(warnings).toEqual([]);
});

test('a failed action of a rule without a CloudWatch Logs error action is reported', async () => {
  const reported: string[] = [];
  const lone = new IotRules([rule('Lone', "SELECT * FROM 'lone/+'", '${id}', { errorAction: { kind: 'not run', type: 'Sqs' } })], {
    kinesis, logError: () => { throw new Error('no CloudWatch Logs error action here'); }, warn: (m) => reported.push(m),
  });
  const outcome = await lone.publish('lone/x', Buffer.from('{"value": 1}'));
  expect(outcome).toMatchObject({ rulesMatched: 1, records: [], failures: [{ rule: 'Lone' }] });
  expect(reported).toEqual([expect.stringMatching(/^Test\/Lone: an action failed on a message on lone\/x and its Sqs error action does not run locally: Failed to put record/)]);
});

describe('the pipeline\'s own topic rules, synthesized, planned and run as AWS IoT runs them', () => {
  const SENSORS = Array.from({ length: 12 }, (_, i) => `sensor-${i}`);
  let plan: Plan;
  let engine: IotRules;
  let engineGateway: Gateway;
  let client: IoTDataPlaneClient;
  const errors: Array<{ logGroupName: string; message: ErrorActionMessage }> = [];

  beforeAll(async () => {
    // SELECT lists where the sensor id is an alias of the topic, or a field
    // of a nested object: the rule's key must read it from the message.
    const outdir = mkdtempSync(path.join(tmpdir(), 'iot-rule-cdk-out-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'IotRules');
    new SensorIngestPipeline(stack, 'ByTopic', {
      shardCount: 4,
      ingress: Ingress.iotTopicRule({ sql: "SELECT topic(2) AS sensorid, value, timestamp FROM 'plant/+/readings'" }),
    });
    new SensorIngestPipeline(stack, 'ByShadow', {
      shardCount: 4,
      ingress: Ingress.iotTopicRule({ sql: "SELECT state.reported.* FROM 'things/+/shadow'" }),
    });
    app.synth();
    plan = planDeployment(readCloudAssembly(outdir), {
      region: REGION, account: '123456789012', queueUrl: (n) => `http://127.0.0.1:1/123456789012/${n}`,
    });
    for (const s of plan.streams) {
      await kinesis.send(new CreateStreamCommand({ StreamName: s.name, ShardCount: s.shardCount }));
      await waitFor(async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: s.name }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE', s.name);
    }
    engine = new IotRules(plan.topicRules, {
      kinesis, logError: (logGroupName, message) => errors.push({ logGroupName, message }), warn: (m) => warnings.push(m),
    });
    engineGateway = await Gateway.start({
      port: 0,
      pageDirectory: __dirname,
      config: () => ({}),
      services: [],
      passThrough: {},
      iot: () => engine,
      lambda: { find: () => undefined, list: () => [] },
    });
    client = new IoTDataPlaneClient({ region: REGION, credentials: CREDENTIALS, endpoint: engineGateway.endpoint });
  });

  afterAll(async () => {
    client?.destroy();
    await engineGateway?.close();
  });

  /** The records of a pipeline's stream, by shard. */
  async function streamRecords(pipeline: string): Promise<Map<string, StreamRecord[]>> {
    const stream = plan.streams.find((s) => s.path.startsWith(`IotRules/${pipeline}Stream`))!;
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream.name }))).Shards ?? [];
    const out = new Map<string, StreamRecord[]>();
    for (const s of shards) out.set(s.ShardId!, await new ShardReader(kinesis, stream.name, s.ShardId!).readAll());
    return out;
  }

  test('each message is put, keyed by its own sensor id, and the sensors spread over the shards', async () => {
    for (const sensor of SENSORS) {
      const reading = { value: 20.5, timestamp: '2024-05-06T07:08:09Z' };
      await client.send(new PublishCommand({ topic: `plant/${sensor}/readings`, payload: Buffer.from(JSON.stringify(reading)) }));
      await client.send(new PublishCommand({ topic: `things/${sensor}/shadow`, payload: Buffer.from(JSON.stringify({ state: { reported: { sensorid: sensor, ...reading } } })) }));
    }
    expect(errors.map((e) => e.message.failures[0].errorMessage)).toEqual([]);
    for (const pipeline of ['ByTopic', 'ByShadow']) {
      const byShard = await streamRecords(pipeline);
      const records = [...byShard.values()].flat();
      expect(records.map((r) => [r.partitionKey, JSON.parse(text(r)).sensorid]).sort()).toEqual(SENSORS.map((s) => [s, s]).sort());
      // Twelve keys hashed over four shards: the sensors do not all land on one.
      expect([...byShard.values()].filter((r) => r.length > 0).length).toBeGreaterThan(1);
    }
  });
});
