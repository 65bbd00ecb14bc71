/**
 * The gateway as a server on 127.0.0.1: which requests it answers (Host and
 * Origin), how much of a body it reads for each service (Content-Length, a
 * chunked body, a gzip body inflating), chunked requests passed through to
 * kinesalite and dynalite, and malformed requests answered with a 4xx and a
 * reason. Raw HTTP requests, so that every header is the test's to choose.
 */
import * as http from 'http';
import { createGzip, gzipSync } from 'zlib';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import * as fc from 'fast-check';
import { CREDENTIALS, LocalAws, REGION } from '../../local/src';
import { CloudWatchServer } from '../../local/src/runner/cloudwatch-server';
import { Gateway } from '../../local/src/runner/gateway';
import { CorsPlan, HttpEndpoints } from '../../local/src/runner/http-endpoints';
import { IotRules } from '../../local/src/runner/iot-rules';
import { InvokeResult } from '../../local/src/runner/lambda-runtime';
import { SqsServer } from '../../local/src/runner/sqs-server';

jest.setTimeout(60_000);

const API = 'api0000001';
const URL_ID = 'u'.repeat(32);
const TABLE = 'gateway-table';
const cors: CorsPlan = {
  allowOrigins: ['https://page.example'], allowMethods: ['GET', 'POST'], allowHeaders: ['content-type'], exposeHeaders: [], allowCredentials: false,
};

let aws: LocalAws;
let gateway: Gateway;
const sqsServer = new SqsServer(REGION, '123456789012', () => gateway.endpoint);
const cloudwatchServer = new CloudWatchServer();
/** Payloads the stand-in function was invoked with. */
const invocations: string[] = [];

const echo = async (payload: string): Promise<InvokeResult> => {
  invocations.push(payload);
  return { requestId: 'r-1', payload: JSON.stringify({ statusCode: 200, body: 'ok' }), logs: [], durationMs: 1 };
};

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createSensorTable(TABLE);
  await aws.createStream('gateway-stream', 1);
  const endpoints = new HttpEndpoints(
    [{ path: 'Test/Api', apiId: API, name: 'Api', stages: [{ name: '$default', variables: {} }], routes: [{ path: 'Test/Route', routeKey: '$default', authorizationType: 'NONE', functionName: 'echo', timeoutMs: 5_000 }], cors }],
    [{ path: 'Test/Url', urlId: URL_ID, functionName: 'echo', authType: 'NONE' }],
    { region: REGION, account: '123456789012', invoke: (_, payload) => echo(payload), warn: () => undefined },
  );
  const iot = new IotRules([], { kinesis: aws.kinesisClient, logError: () => undefined, warn: () => undefined });
  gateway = await Gateway.start({
    port: 0,
    pageDirectory: __dirname,
    config: () => ({ hello: 'page' }),
    services: [sqsServer, cloudwatchServer],
    iot: () => iot,
    http: () => endpoints,
    passThrough: { Kinesis_20131202: () => aws.endpoints.kinesis, DynamoDB_20120810: () => aws.endpoints.dynamodb },
    lambda: { find: (name) => (name === 'echo' ? { name, arn: 'arn:aws:lambda:us-east-1:123456789012:function:echo', invoke: echo } : undefined), list: () => [] },
  });
  sqsServer.createQueue('gateway-queue');
});

afterAll(async () => {
  sqsServer.close();
  await gateway?.close();
  await aws?.stop();
});

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

interface RawRequest {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | number>;
  /** Written in these chunks, without a Content-Length unless the headers give one. */
  readonly chunks?: ReadonlyArray<Buffer | string>;
  /** Sends the headers only and waits for the answer without ending the body. */
  readonly headersOnly?: boolean;
}

/** One request on a connection of its own, answered or not. */
function raw(r: RawRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gateway.port, method: r.method ?? 'POST', path: r.path ?? '/', headers: r.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString('utf8') });
        req.destroy();
      });
    });
    // The gateway may answer and close before the whole body is sent.
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    if (r.headersOnly) {
      req.flushHeaders();
      return;
    }
    for (const c of r.chunks ?? []) req.write(c);
    req.end();
  });
}

const own = () => `127.0.0.1:${gateway.port}`;
/** kinesalite and dynalite check that a request is signed, not its signature. */
const SIGNED = {
  'authorization': 'AWS4-HMAC-SHA256 Credential=S3RVER/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef',
  'x-amz-date': '20240101T000000Z',
};
const target = (t: string, body: unknown, headers: Record<string, string | number> = {}): RawRequest => ({
  headers: {
    'x-amz-target': t,
    ...(t.startsWith('Kinesis') || t.startsWith('DynamoDB') ? { 'content-type': 'application/x-amz-json-1.1', ...SIGNED } : { 'content-type': 'application/x-amz-json-1.0' }),
    ...headers,
  },
  chunks: [typeof body === 'string' ? body : JSON.stringify(body)],
});

/** A gzip of `bytes` zeros, made a megabyte at a time. */
function gzipOfZeros(bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gzip = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gzip.on('data', (c: Buffer) => parts.push(c));
    gzip.on('end', () => resolve(Buffer.concat(parts)));
    gzip.on('error', reject);
    const zeros = Buffer.alloc(1024 * 1024);
    let left = bytes;
    const write = () => {
      while (left > 0) {
        left -= zeros.length;
        if (!gzip.write(zeros)) {
          gzip.once('drain', write);
          return;
        }
      }
      gzip.end();
    };
    write();
  });
}
const queueUrl = () => sqsServer.queueUrl('gateway-queue');
const sendMessage = (headers: Record<string, string | number>) =>
  raw(target('AmazonSQS.SendMessage', { QueueUrl: queueUrl(), MessageBody: 'from a page' }, headers));
const queued = () => sqsServer.stats('gateway-queue').visible + sqsServer.stats('gateway-queue').inFlight;

describe('Host and Origin', () => {
  test('a Host other than 127.0.0.1 or localhost with the gateway\'s port is refused with a reason, on every path, and nothing is written', async () => {
    const before = queued();
    const hosts = fc.oneof(
      fc.domain().map((d) => `${d}:${gateway.port}`),
      fc.domain(),
      fc.constantFrom('127.0.0.1', 'localhost', '127.0.0.1:1', 'localhost.evil.example:PORT', '127.0.0.2:PORT', '[::1]:PORT', '0.0.0.0:PORT', '127.0.0.1:PORT.evil.example')
        .map((h) => h.replace('PORT', String(gateway.port))),
    ).filter((h) => ![`127.0.0.1:${gateway.port}`, `localhost:${gateway.port}`].includes(h.toLowerCase()));
    const paths = fc.constantFrom('/', '/config.json', `/http-apis/${API}/readings`, `/function-urls/${URL_ID}/`, '/topics/a%2Fb', '/2015-03-31/functions/echo/invocations');
    await fc.assert(fc.asyncProperty(hosts, paths, async (host, path) => {
      const answer = await raw({ method: 'POST', path, headers: { 'host': host, 'x-amz-target': path === '/' ? 'AmazonSQS.SendMessage' : '' }, chunks: [JSON.stringify({ QueueUrl: queueUrl(), MessageBody: 'x' })] });
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.text).message).toContain(`the Host header ${host} does not name this endpoint`);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }), { numRuns: 60 });
    expect(queued()).toBe(before);
    expect(invocations).toEqual([]);
  });

  test('127.0.0.1 and localhost with the port are answered, in any letter case', async () => {
    for (const host of [own(), `localhost:${gateway.port}`, `LocalHost:${gateway.port}`]) {
      const answer = await raw({ method: 'GET', path: '/config.json', headers: { host } });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toEqual({ hello: 'page' });
    }
  });

  test('a page of another origin may not call the AWS APIs: its requests and preflights are refused, nothing is written', async () => {
    const before = queued();
    const origins = fc.oneof(
      fc.webUrl({ withQueryParameters: false, withFragments: false }).map((u) => new URL(u).origin),
      fc.constantFrom('null', 'http://127.0.0.1', 'http://127.0.0.1:1', 'https://127.0.0.1:PORT', 'http://localhost.evil.example:PORT', 'http://127.0.0.1:PORT.evil.example', 'file://')
        .map((o) => o.replace('PORT', String(gateway.port))),
    ).filter((o) => ![`http://127.0.0.1:${gateway.port}`, `http://localhost:${gateway.port}`].includes(o.toLowerCase()));
    await fc.assert(fc.asyncProperty(origins, fc.boolean(), async (origin, preflight) => {
      const answer = preflight
        ? await raw({ method: 'OPTIONS', path: '/', headers: { 'origin': origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-amz-target' } })
        : await sendMessage({ origin });
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.text).message).toContain(`the page at ${origin} may not call the local AWS endpoints`);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }), { numRuns: 60 });
    expect(queued()).toBe(before);
    // A request from another site without an Origin header (a no-cors GET) is refused too.
    expect((await raw({ method: 'GET', path: '/config.json', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
  });

  test('the run\'s own page, from 127.0.0.1 or localhost, gets the CORS headers the browser needs', async () => {
    for (const origin of [`http://127.0.0.1:${gateway.port}`, `http://localhost:${gateway.port}`]) {
      const preflight = await raw({ method: 'OPTIONS', path: '/', headers: { 'origin': origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-amz-target,content-type' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(origin);
      expect(preflight.headers['access-control-allow-headers']).toBe('x-amz-target,content-type');
      const sent = await sendMessage({ origin, 'sec-fetch-site': 'cross-site' });
      expect(sent.status).toBe(200);
      expect(sent.headers['access-control-allow-origin']).toBe(origin);
      expect(sent.headers['access-control-allow-credentials']).toBeUndefined();
      const kinesis = await raw(target('Kinesis_20131202.ListStreams', {}, { origin }));
      expect(kinesis.status).toBe(200);
      expect(kinesis.headers['access-control-allow-origin']).toBe(origin);
    }
  });

  test('an HTTP API answers other origins as its CORS configuration says, but never under a foreign Host', async () => {
    const allowed = await raw({ method: 'GET', path: `/http-apis/${API}/readings`, headers: { origin: 'https://page.example' } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://page.example');
    const other = await raw({ method: 'GET', path: `/http-apis/${API}/readings`, headers: { origin: 'https://other.example' } });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await raw({ method: 'OPTIONS', path: `/http-apis/${API}/readings`, headers: { 'origin': 'https://page.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://page.example');
    const rebound = await raw({ method: 'GET', path: `/http-apis/${API}/readings`, headers: { origin: 'https://page.example', host: `page.example:${gateway.port}` } });
    expect(rebound.status).toBe(403);
  });
});

describe('bodies are read within the service\'s limit', () => {
  /** Each service's limit on a request as sent, and what its 413 looks like. */
  const limits: Array<{ what: string; limit: number; request: (h: Record<string, string | number>) => RawRequest; check: (a: Answer) => void }> = [
    {
      what: 'SQS (a 1 MiB message in JSON, escapes and ten entries\' ids)',
      limit: 2 * 1_048_576 + 262_144,
      request: (h) => target('AmazonSQS.SendMessageBatch', {}, h),
      check: (a) => expect(JSON.parse(a.text).__type).toBe('com.amazonaws.sqs#RequestEntityTooLarge'),
    },
    {
      what: 'CloudWatch PutMetricData (1 MB)',
      limit: 1_000_000,
      request: (h) => target('GraniteServiceVersion20100801.PutMetricData', {}, h),
      check: (a) => expect(JSON.parse(a.text).__type).toBe('com.amazonaws.cloudwatch#RequestEntityTooLarge'),
    },
    {
      what: 'Kinesis (a 5 MiB PutRecords in base64, kinesalite\'s 7 MiB)',
      limit: 7 * 1024 * 1024,
      request: (h) => target('Kinesis_20131202.PutRecords', {}, h),
      check: (a) => expect(a.headers['x-amzn-errortype']).toBe('RequestEntityTooLarge'),
    },
    {
      what: 'DynamoDB (16 MB)',
      limit: 16_000_000,
      request: (h) => target('DynamoDB_20120810.BatchWriteItem', {}, h),
      check: (a) => expect(a.headers['x-amzn-errortype']).toBe('RequestEntityTooLarge'),
    },
    {
      what: 'Lambda Invoke (6 MB)',
      limit: 6 * 1024 * 1024,
      request: (h) => ({ path: '/2015-03-31/functions/echo/invocations', headers: h }),
      check: (a) => {
        expect(a.headers['x-amzn-errortype']).toBe('RequestTooLargeException');
        expect(JSON.parse(a.text).message).toContain('Request must be smaller than 6291456 bytes for the InvokeFunction operation');
      },
    },
    {
      what: 'Lambda Invoke of type Event (1 MB)',
      limit: 1024 * 1024,
      request: (h) => ({ path: '/2015-03-31/functions/echo/invocations', headers: { 'x-amz-invocation-type': 'Event', ...h } }),
      check: (a) => expect(a.headers['x-amzn-errortype']).toBe('RequestTooLargeException'),
    },
    {
      what: 'AWS IoT Publish (128 KiB)',
      limit: 128 * 1024,
      request: (h) => ({ path: '/topics/sensors%2Fs1', headers: h }),
      check: (a) => expect(a.headers['x-amzn-errortype']).toBe('RequestEntityTooLargeException'),
    },
    {
      what: 'an HTTP API (10 MB)',
      limit: 10_000_000,
      request: (h) => ({ path: `/http-apis/${API}/readings`, headers: h }),
      check: (a) => expect(JSON.parse(a.text)).toEqual({ message: 'Request Entity Too Large' }),
    },
    {
      what: 'a Function URL (6 MB)',
      limit: 6 * 1024 * 1024,
      request: (h) => ({ path: `/function-urls/${URL_ID}/`, headers: h }),
      check: (a) => expect(JSON.parse(a.text).Message).toContain('Request must be smaller than'),
    },
  ];

  test.each(limits)('$what: a Content-Length past the limit is answered 413 before a byte of the body is sent', async ({ limit, request, check }) => {
    const answer = await raw({ ...request({ 'content-length': limit + 1 }), headersOnly: true });
    expect(answer.status).toBe(413);
    check(answer);
  });

  test.each(limits)('$what: a chunked body is counted as it arrives and refused one byte past the limit', async ({ limit, request, check }) => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const chunks = Array.from({ length: Math.floor(limit / chunk.length) }, () => chunk);
    chunks.push(Buffer.alloc(limit - chunks.length * chunk.length + 1, 0x20));
    const r = request({});
    const answer = await raw({ ...r, chunks });
    expect(answer.status).toBe(413);
    check(answer);
  });

  test('a gzip body is refused as soon as it inflates past the limit: a 1.4 MB gzip of 1.4 GB leaves the memory alone', async () => {
    const bomb = await gzipOfZeros(1400 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(1_500_000);
    const peakBefore = process.resourceUsage().maxRSS;
    const sqs = await raw({ ...target('AmazonSQS.SendMessage', '', { 'content-encoding': 'gzip', 'content-length': bomb.length }), chunks: [bomb] });
    expect(sqs.status).toBe(413);
    expect(JSON.parse(sqs.text).message).toMatch(/^the inflated \(gzip\) body is larger than 2359296 bytes/);
    const peakAfter = process.resourceUsage().maxRSS;
    // maxRSS is in KiB: the gateway inflated 2.3 MB, not 1.4 GB.
    expect(peakAfter - peakBefore).toBeLessThan(200 * 1024);
  });

  test('a gzip body within the limit is read; another coding is 415, a broken gzip 400, each with a reason', async () => {
    const body = gzipSync(JSON.stringify({ QueueUrl: queueUrl(), MessageBody: 'zipped' }));
    const ok = await raw({ ...target('AmazonSQS.SendMessage', '', { 'content-encoding': 'gzip' }), chunks: [body] });
    expect(ok.status).toBe(200);
    const br = await raw({ ...target('AmazonSQS.SendMessage', '', { 'content-encoding': 'br' }), chunks: ['xx'] });
    expect(br.status).toBe(415);
    expect(JSON.parse(br.text).message).toBe('Content-Encoding br is not supported: send gzip or no encoding');
    const broken = await raw({ ...target('GraniteServiceVersion20100801.PutMetricData', '', { 'content-encoding': 'gzip' }), chunks: ['not gzip at all'] });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text).message).toMatch(/^the body is not valid gzip/);
    const invoke = await raw({ path: '/2015-03-31/functions/echo/invocations', headers: { 'content-encoding': 'deflate' }, chunks: ['{}'] });
    expect(invoke.status).toBe(415);
    expect(invoke.headers['x-amzn-errortype']).toBe('UnsupportedMediaTypeException');
  });
});

describe('pass-through to kinesalite and dynalite', () => {
  test('a chunked request (no Content-Length) reaches kinesalite and dynalite and is answered as any other', async () => {
    const record = JSON.stringify({ StreamName: 'gateway-stream', PartitionKey: 'k', Data: Buffer.from('chunked').toString('base64') });
    const put = await raw({ ...target('Kinesis_20131202.PutRecord', ''), chunks: [record.slice(0, 10), record.slice(10)] });
    expect(put.status).toBe(200);
    expect(JSON.parse(put.text)).toMatchObject({ ShardId: 'shardId-000000000000', SequenceNumber: expect.stringMatching(/^\d+$/) });

    const item = JSON.stringify({ TableName: TABLE, Item: { SensorId: { S: 'chunked' }, Timestamp: { S: '2024-01-01T00:00:00.000Z' }, Value: { N: '1' } } });
    const written = await raw({ ...target('DynamoDB_20120810.PutItem', '', { 'content-type': 'application/x-amz-json-1.0' }), chunks: [item.slice(0, 7), item.slice(7)] });
    expect(written.status).toBe(200);
    const got = await aws.dynamodbClient.send(new GetItemCommand({ TableName: TABLE, Key: { SensorId: { S: 'chunked' }, Timestamp: { S: '2024-01-01T00:00:00.000Z' } } }));
    expect(got.Item?.Value).toEqual({ N: '1' });

    // And gzip: passed on inflated.
    const zipped = await raw({ ...target('Kinesis_20131202.ListStreams', '', { 'content-encoding': 'gzip' }), chunks: [gzipSync('{}')] });
    expect(zipped.status).toBe(200);
    expect(JSON.parse(zipped.text).StreamNames).toContain('gateway-stream');
  });
});

describe('malformed requests are a 4xx with a reason, never a 500', () => {
  test('paths that are not valid percent-encoding, and request targets that are not paths', async () => {
    const page = await raw({ method: 'GET', path: '/%zz' });
    expect(page.status).toBe(400);
    expect(page.text).toBe('the path /%zz is not valid percent-encoding');
    const invoke = await raw({ path: '/2015-03-31/functions/%E0%A4%A/invocations', chunks: ['{}'] });
    expect(invoke.status).toBe(400);
    expect(JSON.parse(invoke.text).message).toBe('the function name %E0%A4%A is not valid percent-encoding');
    const absolute = await raw({ method: 'GET', path: 'http://evil.example/config.json' });
    expect(absolute.status).toBe(400);
    expect(absolute.text).toContain('is not a path');
    // `//host/path` is a path of the page, not another host.
    const doubled = await raw({ method: 'GET', path: '//evil.example/config.json' });
    expect(doubled.status).toBe(404);
    expect(doubled.text).toBe('evil.example/config.json is not part of the page');
  });

  test('a body that is JSON but not an object is a SerializationException', async () => {
    for (const body of ['[]', 'null', '"text"', '12']) {
      for (const t of ['AmazonSQS.SendMessage', 'GraniteServiceVersion20100801.PutMetricData']) {
        const answer = await raw(target(t, body));
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.text).__type).toMatch(/#SerializationException$/);
      }
    }
  });

  test('the SQS client still works through it (Host 127.0.0.1:PORT, no Origin)', async () => {
    const sqs = new SQSClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint });
    try {
      const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl(), AttributeNames: ['QueueArn'] }));
      expect(out.Attributes?.QueueArn).toBe(sqsServer.queueArn('gateway-queue'));
    } finally {
      sqs.destroy();
    }
  });
});
