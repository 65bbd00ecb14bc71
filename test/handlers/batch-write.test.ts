import * as http from 'http';
import type { AddressInfo } from 'net';
import { BatchWriteItemCommand, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { batchWriter } from '../../src/handlers/batch-write';
import { toPutRequest } from '../../src/handlers/table-writer';

/** What a local server received: one request. */
interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

type Answer = { status: number; body: string; headers?: Record<string, string> } | 'hang';

/** A server that records every request and answers each with `answer()`. */
async function recordingServer(answer: () => Answer) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      const a = answer();
      if (a === 'hang') return;
      res.writeHead(a.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `req-${received.length}`, ...a.headers });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    received,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function clientFor(endpoint: string, requestTimeout = 2_000, throwOnRequestTimeout = false): DynamoDBClient {
  return new DynamoDBClient({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session-token' },
    maxAttempts: 1,
    cacheMiddleware: true,
    requestHandler: { requestTimeout, connectionTimeout: 1_000, throwOnRequestTimeout },
  });
}

const TABLE = 'SensorData';

function requests(n: number, from = 0): WriteRequest[] {
  return Array.from({ length: n }, (_, i) => toPutRequest({
    sensorId: i % 7 === 0 ? `capteur-température-${from + i}` : `sensor-"${from + i}"\\x`,
    timestamp: new Date(Date.UTC(2024, 4, 14) + (from + i) * 1_000).toISOString(),
    value: (from + i) * 1.25 - 3,
  }, i % 2 === 0 ? 86_400 : 0));
}

/** Headers the SDK makes anew for each request: its id, the time and the signature over them. */
const PER_REQUEST = ['amz-sdk-invocation-id', 'x-amz-date', 'authorization'];

function stable(headers: http.IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !PER_REQUEST.includes(name)));
}

/** The credential scope and signed headers of an Authorization header, without its signature. */
function scope(authorization: string | undefined): string {
  return String(authorization).replace(/Signature=[0-9a-f]{64}$/, 'Signature=...');
}

/** Signs the received request again with the client's own signer at its x-amz-date: the signature it should carry. */
async function expectedAuthorization(client: DynamoDBClient, r: Received, endpoint: string): Promise<string> {
  const url = new URL(endpoint);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.headers)) {
    if (name !== 'authorization' && name !== 'connection' && typeof value === 'string') headers[name] = value;
  }
  const amzDate = headers['x-amz-date'];
  const signingDate = new Date(Date.UTC(
    Number(amzDate.slice(0, 4)), Number(amzDate.slice(4, 6)) - 1, Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)), Number(amzDate.slice(11, 13)), Number(amzDate.slice(13, 15)),
  ));
  type Signer = { sign: (req: object, o: object) => Promise<{ headers: Record<string, string> }> };
  const signer = await (client.config as unknown as { signer: () => Promise<Signer> }).signer();
  const signed = await signer.sign({
    method: r.method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: r.url, query: {}, headers, body: r.body.toString('utf8'),
  }, { signingDate });
  return signed.headers.authorization;
}

describe('batchWriter: BatchWriteItem without the SDK client per request', () => {
  test('sends the bytes and headers the SDK client sends for the same input, signed as the client signs', async () => {
    const server = await recordingServer(() => ({ status: 200, body: '{"UnprocessedItems":{}}' }));
    const client = clientFor(server.endpoint);
    try {
      const write = batchWriter(client);
      const input = requests(25);
      // The first request of a table goes through the client; the second is the lean one.
      await write(TABLE, requests(3, 100));
      await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: input } }));
      const out = await write(TABLE, input);
      expect(out).toEqual({ UnprocessedItems: {} });
      expect(server.received).toHaveLength(3);
      const [, sdk, lean] = server.received;
      expect(lean.method).toBe(sdk.method);
      expect(lean.url).toBe(sdk.url);
      expect(lean.body.equals(sdk.body)).toBe(true);
      expect(stable(lean.headers)).toEqual(stable(sdk.headers));
      expect(Object.keys(lean.headers).sort()).toEqual(Object.keys(sdk.headers).sort());
      expect(scope(lean.headers.authorization)).toBe(scope(sdk.headers.authorization));
      expect(lean.headers['amz-sdk-invocation-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(lean.headers['amz-sdk-invocation-id']).not.toBe(sdk.headers['amz-sdk-invocation-id']);
      // The check of the signature is itself checked on the SDK's request.
      expect(await expectedAuthorization(client, sdk, server.endpoint)).toBe(sdk.headers.authorization);
      expect(await expectedAuthorization(client, lean, server.endpoint)).toBe(lean.headers.authorization);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('passes the Lambda trace id as the SDK does', async () => {
    const server = await recordingServer(() => ({ status: 200, body: '{"UnprocessedItems":{}}' }));
    const client = clientFor(server.endpoint);
    const saved = { fn: process.env.AWS_LAMBDA_FUNCTION_NAME, trace: process.env._X_AMZN_TRACE_ID };
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'processor';
    process.env._X_AMZN_TRACE_ID = 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1';
    try {
      const write = batchWriter(client);
      await write(TABLE, requests(2));
      await write(TABLE, requests(2));
      const [sdk, lean] = server.received;
      expect(sdk.headers['x-amzn-trace-id']).toBe(process.env._X_AMZN_TRACE_ID);
      expect(lean.headers['x-amzn-trace-id']).toBe(process.env._X_AMZN_TRACE_ID);
    } finally {
      if (saved.fn === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME; else process.env.AWS_LAMBDA_FUNCTION_NAME = saved.fn;
      if (saved.trace === undefined) delete process.env._X_AMZN_TRACE_ID; else process.env._X_AMZN_TRACE_ID = saved.trace;
      client.destroy();
      await server.close();
    }
  });

  test('returns UnprocessedItems as the SDK client does', async () => {
    const left = requests(2);
    const server = await recordingServer(() => ({ status: 200, body: JSON.stringify({ UnprocessedItems: { [TABLE]: left } }) }));
    const client = clientFor(server.endpoint);
    try {
      const write = batchWriter(client);
      const viaSdk = await write(TABLE, requests(5));
      const lean = await write(TABLE, requests(5));
      expect(lean.UnprocessedItems).toEqual(viaSdk.UnprocessedItems);
      expect(lean.UnprocessedItems).toEqual({ [TABLE]: left });
    } finally {
      client.destroy();
      await server.close();
    }
  });

  const errors: Array<[string, Answer]> = [
    ['throttling', { status: 400, body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow down' }) }],
    ['a throttling named by header', { status: 400, body: '{"message":"slow down"}', headers: { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/' } }],
    ['a retryable conflict', { status: 400, body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException', message: 'conflict' }) }],
    ['a validation error', { status: 400, body: JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'bad item' }) }],
    ['a 500', { status: 500, body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'oops' }) }],
    ['a 503 without a body', { status: 503, body: '' }],
  ];

  test.each(errors)('throws for %s what the SDK client throws', async (_, answer) => {
    const server = await recordingServer(() => answer);
    const client = clientFor(server.endpoint);
    try {
      const write = batchWriter(client);
      const caught = async (p: Promise<unknown>) => p.then(() => { throw new Error('no error'); }, (e: unknown) => e as Record<string, unknown>);
      const sdk = await caught(write(TABLE, requests(2)));
      const lean = await caught(write(TABLE, requests(2)));
      expect(server.received).toHaveLength(2);
      const shape = (e: Record<string, unknown>) => ({
        name: e.name,
        message: e.message,
        fault: e.$fault,
        retryable: e.$retryable,
        status: (e.$metadata as { httpStatusCode?: number }).httpStatusCode,
        requestId: (e.$metadata as { requestId?: string }).requestId !== undefined,
        prototype: Object.getPrototypeOf(e),
      });
      expect(shape(lean)).toEqual({ ...shape(sdk), requestId: true });
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('times out as the SDK client does, with its HTTP handler\'s request timeout', async () => {
    let calls = 0;
    const server = await recordingServer(() => (++calls === 1 ? { status: 200, body: '{"UnprocessedItems":{}}' } : 'hang'));
    const client = clientFor(server.endpoint, 200, true);
    try {
      const write = batchWriter(client);
      await write(TABLE, requests(1));
      const sdk = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: requests(1) } })).catch((e: Error) => e);
      const lean = await write(TABLE, requests(1)).catch((e: Error) => e);
      expect(lean).toBeInstanceOf(Error);
      expect((lean as Error).name).toBe((sdk as Error).name);
      expect((lean as Error).name).toBe('TimeoutError');
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('an error answer from a server an hour ahead corrects the clock offset as the SDK client does', async () => {
    const ahead = () => new Date(Date.now() + 3_600_000).toUTCString();
    let calls = 0;
    const server = await recordingServer(() => (++calls === 1
      ? { status: 200, body: '{"UnprocessedItems":{}}' }
      : { status: 400, body: JSON.stringify({ __type: 'com.amazon.coral.service#InvalidSignatureException', message: 'Signature expired' }), headers: { date: ahead() } }));
    const sdkClient = clientFor(server.endpoint);
    const leanClient = clientFor(server.endpoint);
    try {
      const write = batchWriter(leanClient);
      await write(TABLE, requests(1));
      await sdkClient.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: requests(1) } })).catch(() => undefined);
      await write(TABLE, requests(1)).catch(() => undefined);
      const offset = (c: DynamoDBClient) => (c.config as unknown as { systemClockOffset: number }).systemClockOffset;
      expect(offset(sdkClient)).toBeGreaterThan(3_590_000);
      expect(Math.abs(offset(leanClient) - offset(sdkClient))).toBeLessThan(2_000);
      // The next lean request is signed at the corrected time.
      await write(TABLE, requests(1)).catch(() => undefined);
      const last = server.received[server.received.length - 1].headers['x-amz-date'] as string;
      expect(last.slice(0, 8)).toBe(new Date(Date.now() + offset(leanClient)).toISOString().slice(0, 10).replace(/-/g, ''));
      expect(Number(last.slice(9, 11))).toBe(new Date(Date.now() + offset(leanClient)).getUTCHours());
    } finally {
      sdkClient.destroy();
      leanClient.destroy();
      await server.close();
    }
  });

  test('a client that is not a DynamoDBClient is used through send', async () => {
    const sent: unknown[] = [];
    const fake = { send: async (command: BatchWriteItemCommand) => { sent.push(command.input); return { UnprocessedItems: {} }; } };
    const write = batchWriter(fake as unknown as DynamoDBClient);
    await write(TABLE, requests(1));
    await write(TABLE, requests(1));
    expect(sent).toEqual([{ RequestItems: { [TABLE]: requests(1) } }, { RequestItems: { [TABLE]: requests(1) } }]);
  });
});
