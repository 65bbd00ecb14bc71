import { AddressInfo, createServer, Server, Socket } from 'net';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { cloudWatchClient, dynamoDbClient, sqsClient } from '../../src/handlers/environment';

/*
 * A server that takes the connection and the request and never answers: a
 * hung connection. Each handler client must give up on it by its request
 * timeout (a TimeoutError), not wait for the invocation's own timeout, which
 * would fail the whole batch and leave nothing for its dead letters.
 */
let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
const saved = { ...process.env };

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_SQS: endpoint,
    AWS_ENDPOINT_URL_CLOUDWATCH: endpoint,
  });
});

afterAll(async () => {
  process.env = saved;
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The send's outcome, or 'hung' if it has not settled within `guardMs`. */
async function outcome(send: Promise<unknown>, guardMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('hung'), guardMs); });
  try {
    return await Promise.race([send.then(() => 'answered', (e: Error) => e.name), guard]);
  } finally {
    clearTimeout(timer);
  }
}

test('the processor\'s DynamoDB client gives up on a hung connection by its request timeout', async () => {
  const client = dynamoDbClient();
  const send = client.send(new BatchWriteItemCommand({
    RequestItems: { table: [{ PutRequest: { Item: { SensorId: { S: 's1' }, Timestamp: { S: 't' } } } }] },
  }));
  expect(await outcome(send, 8_000)).toBe('TimeoutError');
  client.destroy();
}, 15_000);

test('the dead-letter and metric clients give up on a hung connection by their request timeout, every attempt', async () => {
  const sqs = sqsClient();
  const cloudwatch = cloudWatchClient();
  // Three attempts of one second each, and the SDK's backoff between them.
  const [letters, metrics] = await Promise.all([
    outcome(sqs.send(new SendMessageBatchCommand({ QueueUrl: `${endpoint}/1/q`, Entries: [{ Id: '0', MessageBody: 'x' }] })), 8_000),
    outcome(cloudwatch.send(new PutMetricDataCommand({ Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1 }] })), 8_000),
  ]);
  expect([letters, metrics]).toEqual(['TimeoutError', 'TimeoutError']);
  sqs.destroy();
  cloudwatch.destroy();
}, 15_000);
