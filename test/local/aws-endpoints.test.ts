/**
 * The local run's own SQS, CloudWatch and Lambda endpoints, and its CORS
 * front of Kinesis, driven by the real SDK v3 clients.
 */
import { createHash } from 'crypto';
import { CloudWatchClient, GetMetricDataCommand, ListMetricsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateStreamCommand, KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityCommand, DeleteMessageBatchCommand, DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand,
  ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient,
} from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { functionCode } from './helpers';
import { CREDENTIALS, LocalServer, REGION, startKinesalite } from '../../local/src';
import { CloudWatchServer } from '../../local/src/runner/cloudwatch-server';
import { Gateway } from '../../local/src/runner/gateway';
import { bootstrapFile, CpuLimiter, FunctionPool } from '../../local/src/runner/lambda-runtime';
import { md5Attributes, SqsServer } from '../../local/src/runner/sqs-server';

jest.setTimeout(60_000);

let gateway: Gateway;
let kinesalite: LocalServer;
let pool: FunctionPool;
const sqsServer = new SqsServer(REGION, '123456789012', () => gateway.endpoint);
const cloudwatchServer = new CloudWatchServer();
let sqs: SQSClient;
let cloudwatch: CloudWatchClient;
let queueUrl: string;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  const code = functionCode('exports.handler = async (event) => ({ echoed: event, region: process.env.AWS_REGION });');
  pool = new FunctionPool({
    name: 'echo',
    arn: 'arn:aws:lambda:us-east-1:123456789012:function:echo',
    path: 'Test/Echo',
    codeDirectory: code,
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 5,
    memoryMb: 128,
    environment: { AWS_REGION: REGION, PATH: process.env.PATH! },
    maxConcurrency: 1,
  }, bootstrapFile(), { log: () => undefined, emf: () => false }, new CpuLimiter(false));
  gateway = await Gateway.start({
    port: 0,
    pageDirectory: __dirname,
    config: () => ({ hello: 'page' }),
    services: [sqsServer, cloudwatchServer],
    passThrough: { Kinesis_20131202: () => kinesalite.endpoint },
    lambda: {
      find: (name) => (name === 'echo' || name.endsWith(':function:echo') ? { name: 'echo', arn: pool.spec.arn, invoke: (p) => pool.invoke(p) } : undefined),
      list: () => [],
    },
  });
  sqsServer.createQueue('dead-letters', { visibilityTimeoutSeconds: 30 });
  sqs = new SQSClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
  cloudwatch = new CloudWatchClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
  queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'dead-letters' }))).QueueUrl!;
});

afterAll(async () => {
  sqs?.destroy();
  cloudwatch?.destroy();
  sqsServer.close();
  await pool?.stop();
  await gateway?.close();
  await kinesalite?.close();
});

describe('SQS (AWS JSON 1.0, as the SDK v3 client speaks it)', () => {
  test('send, receive with attributes and digests the SDK checks, delete', async () => {
    const sent = await sqs.send(new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: '{"reason":"bad"}',
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'malformed' }, size: { DataType: 'Number', StringValue: '3' } },
    }));
    expect(sent.MessageId).toBeTruthy();
    // The SDK checks these digests against what it sent, and throws when they differ.
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update('{"reason":"bad"}').digest('hex'));
    expect(sent.MD5OfMessageAttributes).toBe(md5Attributes({
      kind: { DataType: 'String', StringValue: 'malformed' }, size: { DataType: 'Number', StringValue: '3' },
    }).MD5OfMessageAttributes);
    const received = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    }));
    expect(received.Messages).toHaveLength(1);
    const m = received.Messages![0];
    expect(m.Body).toBe('{"reason":"bad"}');
    expect(m.MessageAttributes?.kind.StringValue).toBe('malformed');
    expect(m.Attributes?.ApproximateReceiveCount).toBe('1');
    // In flight for 30 s: a second receive sees nothing.
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }))).Messages ?? []).toEqual([]);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
    expect(attrs.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0', VisibilityTimeout: '30' });
  });

  test('batches: ten at most, one failed entry does not fail the others; a peek with VisibilityTimeout 0 leaves messages visible', async () => {
    const out = await sqs.send(new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: i === 3 ? '\u0000 not allowed' : `body ${i}` })),
    }));
    expect(out.Successful).toHaveLength(9);
    expect(out.Failed).toEqual([expect.objectContaining({ Id: 'm3', Code: 'InvalidMessageContents', SenderFault: true })]);
    await expect(sqs.send(new SendMessageBatchCommand({
      QueueUrl: queueUrl, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `x${i}`, MessageBody: 'x' })),
    }))).rejects.toMatchObject({ name: 'TooManyEntriesInBatchRequest' });

    const peek = () => sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
    const first = await peek();
    const second = await peek();
    expect(first.Messages).toHaveLength(9);
    expect(second.Messages?.map((m) => m.MessageId)).toEqual(first.Messages?.map((m) => m.MessageId));
    const deleted = await sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: [...second.Messages!.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })), { Id: 'bogus', ReceiptHandle: 'nope' }],
    }));
    expect(deleted.Successful).toHaveLength(9);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: 'bogus', Code: 'ReceiptHandleIsInvalid' })]);
  });

  test('long polling returns as soon as a message arrives; visibility can be changed', async () => {
    const started = Date.now();
    const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10 }));
    setImmediate(() => void sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'late' })));
    const out = await polling;
    expect(out.Messages?.[0].Body).toBe('late');
    expect(Date.now() - started).toBeLessThan(9_000);
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: out.Messages![0].ReceiptHandle!, VisibilityTimeout: 0 }));
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    expect(again.Messages?.[0].Attributes?.ApproximateReceiveCount).toBe('2');
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: again.Messages![0].ReceiptHandle! }));
  });

  test('an unknown queue is the error the SDK knows', async () => {
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'missing' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
  });

  test('a redrive policy moves a message to its dead-letter queue after maxReceiveCount receives', async () => {
    sqsServer.createQueue('redrive-target');
    sqsServer.createQueue('redrive-source', { visibilityTimeoutSeconds: 0, redrive: { deadLetterTargetArn: sqsServer.queueArn('redrive-target'), maxReceiveCount: 2 } });
    const url = sqsServer.queueUrl('redrive-source');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toHaveLength(1);
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toHaveLength(1);
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages ?? []).toHaveLength(0);
    expect(sqsServer.peekAll('redrive-target')).toEqual(['poison']);
  });
});

describe('CloudWatch (AWS JSON 1.0)', () => {
  const minute = Math.floor(Date.now() / 60_000) * 60_000;

  test('PutMetricData (Values/Counts, Value, compressed) and GetMetricData statistics per period', async () => {
    await cloudwatch.send(new PutMetricDataCommand({
      Namespace: 'Sensors',
      MetricData: [
        { MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 's1' }], Timestamp: new Date(minute), Values: [10, 20], Counts: [1, 3] },
        { MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 's1' }], Timestamp: new Date(minute + 60_000), Value: 5 },
        { MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 's2' }], Timestamp: new Date(minute), Value: 99 },
      ],
    }));
    // Large enough for the SDK to gzip the request body.
    await cloudwatch.send(new PutMetricDataCommand({
      Namespace: 'Sensors',
      MetricData: Array.from({ length: 150 }, (_, i) => ({ MetricName: 'Bulk', Dimensions: [{ Name: 'SensorId', Value: `bulk-${i}` }], Timestamp: new Date(minute), Value: i })),
    }));
    const metric = { Namespace: 'Sensors', MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 's1' }] };
    const out = await cloudwatch.send(new GetMetricDataCommand({
      StartTime: new Date(minute),
      EndTime: new Date(minute + 120_000),
      ScanBy: 'TimestampAscending',
      MetricDataQueries: ['SampleCount', 'Sum', 'Average', 'Minimum', 'Maximum', 'p50'].map((Stat) => ({ Id: Stat.toLowerCase(), MetricStat: { Metric: metric, Period: 60, Stat } })),
    }));
    const byId = Object.fromEntries(out.MetricDataResults!.map((r) => [r.Id, r]));
    expect(byId.samplecount.Timestamps).toEqual([new Date(minute), new Date(minute + 60_000)]);
    expect(byId.samplecount.Values).toEqual([4, 1]);
    expect(byId.sum.Values).toEqual([70, 5]);
    expect(byId.average.Values).toEqual([17.5, 5]);
    expect(byId.minimum.Values).toEqual([10, 5]);
    expect(byId.maximum.Values).toEqual([20, 5]);
    expect(byId.p50.Values).toEqual([20, 5]);
    const bulk = await cloudwatch.send(new ListMetricsCommand({ Namespace: 'Sensors', MetricName: 'Bulk' }));
    expect(bulk.Metrics).toHaveLength(150);
  });

  test('Embedded Metric Format lines become metrics; other lines do not', async () => {
    const line = JSON.stringify({
      _aws: { Timestamp: minute, CloudWatchMetrics: [{ Namespace: 'Sensors', Dimensions: [['SensorId']], Metrics: [{ Name: 'SensorData', Unit: 'NoUnit' }] }] },
      SensorId: 'emf-sensor',
      SensorData: [1, 2, 3],
    });
    expect(cloudwatchServer.ingestEmf(line)).toBe(true);
    expect(cloudwatchServer.ingestEmf('{"level":"INFO","message":"batch processed"}')).toBe(false);
    const out = await cloudwatch.send(new GetMetricDataCommand({
      StartTime: new Date(minute),
      EndTime: new Date(minute + 60_000),
      MetricDataQueries: [{ Id: 'n', MetricStat: { Metric: { Namespace: 'Sensors', MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 'emf-sensor' }] }, Period: 60, Stat: 'Sum' } }],
    }));
    expect(out.MetricDataResults![0].Values).toEqual([6]);
  });

  test('metric math is refused with a reason', async () => {
    await expect(cloudwatch.send(new GetMetricDataCommand({
      StartTime: new Date(minute), EndTime: new Date(minute + 60_000), MetricDataQueries: [{ Id: 'e', Expression: 'SUM(METRICS())' }],
    }))).rejects.toThrow(/metric math expressions are not emulated/);
  });
});

describe('Lambda Invoke and the Kinesis front, with CORS for the run\'s own page', () => {
  test('invokes a function by name or ARN; an unknown one is ResourceNotFoundException', async () => {
    const lambda = new LambdaClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
    try {
      const out = await lambda.send(new InvokeCommand({ FunctionName: pool.spec.arn, Payload: Buffer.from('{"a":1}'), LogType: 'Tail' }));
      expect(JSON.parse(Buffer.from(out.Payload!).toString())).toEqual({ echoed: { a: 1 }, region: REGION });
      expect(out.ExecutedVersion).toBe('$LATEST');
      expect(out.FunctionError).toBeUndefined();
      await expect(lambda.send(new InvokeCommand({ FunctionName: 'nobody' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    } finally {
      lambda.destroy();
    }
  });

  test('a preflight from the run\'s own page is answered and every answer to it carries CORS headers; another page is refused', async () => {
    const page = `http://localhost:${gateway.port}`;
    const preflight = await fetch(`${gateway.endpoint}/2015-03-31/functions/echo/invocations`, {
      method: 'OPTIONS',
      headers: { 'Origin': page, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,x-amz-date' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(page);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization,x-amz-date');
    const config = await fetch(`${gateway.endpoint}/config.json`, { headers: { Origin: page } });
    expect(await config.json()).toEqual({ hello: 'page' });
    expect(config.headers.get('access-control-allow-origin')).toBe(page);
    const foreign = await fetch(`${gateway.endpoint}/config.json`, { headers: { Origin: 'http://page.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect((await fetch(`${gateway.endpoint}/../../etc/passwd`)).status).toBe(404);
  });

  test('Kinesis calls through the front reach kinesalite and come back with CORS headers', async () => {
    const kinesis = new KinesisClient({
      region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint, requestHandler: new NodeHttpHandler(),
    });
    try {
      await kinesis.send(new CreateStreamCommand({ StreamName: 'through-the-front', ShardCount: 1 }));
      const out = await kinesis.send(new ListStreamsCommand({}));
      expect(out.StreamNames).toContain('through-the-front');
      const raw = await fetch(gateway.endpoint, {
        method: 'POST',
        headers: {
          'Origin': gateway.endpoint,
          'X-Amz-Target': 'Kinesis_20131202.ListStreams',
          'Content-Type': 'application/x-amz-json-1.1',
          'Authorization': 'AWS4-HMAC-SHA256 Credential=S3RVER/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00',
          'X-Amz-Date': '20240101T000000Z',
        },
        body: '{}',
      });
      expect(raw.status).toBe(200);
      expect(raw.headers.get('access-control-allow-origin')).toBe(gateway.endpoint);
    } finally {
      kinesis.destroy();
    }
  });
});
