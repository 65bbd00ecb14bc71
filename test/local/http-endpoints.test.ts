/**
 * Function URLs and HTTP API routes on the local run's gateway: the version
 * 2.0 event a function gets, the HTTP response made of its answer, route
 * matching and CORS; with the bundled query handler (in a process of its
 * own, against dynalite) answering real queries through both.
 */
import * as http from 'http';
import * as path from 'path';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { functionCode } from './helpers';
import { LocalAws } from '../../local/src';
import { Gateway } from '../../local/src/runner/gateway';
import { CorsPlan, FunctionUrlPlan, HttpApiPlan, HttpRoutePlan, matchRoute, requestTime, HttpEndpoints } from '../../local/src/runner/http-endpoints';
import { bootstrapFile, CpuLimiter, FunctionPool } from '../../local/src/runner/lambda-runtime';

jest.setTimeout(60_000);

const TABLE = 'readings-table';
const QUERY = 'query-fn';
const ECHO = 'echo-fn';
const ACCOUNT = '123456789012';
const API = 'abcde12345';
const URL_ID = 'u'.repeat(32);
const ECHO_URL_ID = 'e'.repeat(32);
const readings = [
  { sensorId: 'kitchen', timestamp: '2024-05-06T07:08:09.000Z', value: 21.5 },
  { sensorId: 'kitchen', timestamp: '2024-05-06T07:09:09.000Z', value: 22 },
  { sensorId: 'kitchen', timestamp: '2024-05-06T07:10:09.000Z', value: 22.75 },
  { sensorId: 'garage', timestamp: '2024-05-06T07:08:30.000Z', value: 4.5 },
];

/** Echoes the event it gets; `mode` in the query string picks the shape of its answer. */
const ECHO_SOURCE = `
exports.handler = async (event) => {
  const mode = (event.queryStringParameters || {}).mode;
  if (mode === 'plain') return { hello: 'world', n: 1 };
  if (mode === 'string') return 'just text';
  if (mode === 'binary') {
    return { statusCode: 201, headers: { 'X-Count': 2, 'Access-Control-Allow-Origin': 'https://evil.example' }, cookies: ['a=1; Path=/', 'b=2'],
      body: Buffer.from([0, 1, 2, 255]).toString('base64'), isBase64Encoded: true };
  }
  if (mode === 'throw') throw new Error('boom');
  if (mode === 'bad') return { statusCode: 'teapot' };
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) };
};`;

const cors: CorsPlan = {
  allowOrigins: ['https://page.example'],
  allowMethods: ['GET', 'POST'],
  allowHeaders: ['authorization', 'content-type'],
  exposeHeaders: ['x-count'],
  allowCredentials: false,
  maxAgeSeconds: 600,
};
const route = (routeKey: string, functionName: string): HttpRoutePlan => ({ path: `Test/${routeKey}`, routeKey, authorizationType: 'AWS_IAM', functionName, timeoutMs: 30_000 });
const api: HttpApiPlan = {
  path: 'Test/Api',
  apiId: API,
  name: 'Api',
  stages: [{ name: '$default', variables: {} }, { name: 'prod', variables: { tier: 'gold' } }],
  routes: [
    route('GET /readings', QUERY), route('POST /readings', QUERY),
    route('GET /items/{id}', ECHO), route('GET /items/special', ECHO), route('ANY /echo/{proxy+}', ECHO), route('POST /echo', ECHO),
    route('$default', ECHO),
  ],
  cors,
};
const urls: FunctionUrlPlan[] = [
  { path: 'Test/QueryUrl', urlId: URL_ID, functionName: QUERY, authType: 'AWS_IAM', cors },
  { path: 'Test/EchoUrl', urlId: ECHO_URL_ID, functionName: ECHO, authType: 'NONE' },
];

let aws: LocalAws;
let gateway: Gateway;
const pools = new Map<string, FunctionPool>();
const warnings: string[] = [];

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createSensorTable(TABLE);
  await aws.dynamodbClient.send(new BatchWriteItemCommand({
    RequestItems: {
      [TABLE]: readings.map((r) => ({
        PutRequest: { Item: { SensorId: { S: r.sensorId }, Timestamp: { S: r.timestamp }, Value: { N: String(r.value) } } },
      })),
    },
  }));
  const spec = (name: string, codeDirectory: string, environment: Record<string, string | undefined>) => ({
    name,
    arn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`,
    path: `Test/${name}`,
    codeDirectory,
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 10,
    memoryMb: 256,
    maxConcurrency: 2,
    environment: { ...environment, PATH: process.env.PATH! } as Record<string, string>,
  });
  const sinks = { log: () => undefined, emf: () => false };
  // The query handler as it ships: the bundle in assets/.
  pools.set(QUERY, new FunctionPool(spec(QUERY, path.resolve(__dirname, '..', '..', 'assets', 'handlers', 'query.lambda'), aws.handlerEnv({ TABLE_NAME: TABLE })),
    bootstrapFile(), sinks, new CpuLimiter(false)));
  pools.set(ECHO, new FunctionPool(spec(ECHO, functionCode(ECHO_SOURCE), { AWS_REGION: 'us-east-1' }), bootstrapFile(), sinks, new CpuLimiter(false)));
  const endpoints = new HttpEndpoints([api], urls, {
    region: 'us-east-1', account: ACCOUNT, invoke: (name, payload) => pools.get(name)!.invoke(payload), warn: (m) => warnings.push(m),
  });
  gateway = await Gateway.start({
    port: 0,
    pageDirectory: __dirname,
    config: () => ({}),
    services: [],
    passThrough: {},
    http: () => endpoints,
    lambda: { find: () => undefined, list: () => [] },
  });
});

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.stop()));
  await gateway?.close();
  await aws?.stop();
});

/** A GET with raw headers (name, value, name, value, ...), repeated names kept apart. */
function rawGet(url: string, headers: string[]): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    // Given as a raw list, the headers are sent as they are: Host included.
    const req = http.request(url, { headers: ['host', new URL(url).host, ...headers] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve([res.statusCode!, Buffer.concat(chunks).toString('utf8')]));
    });
    req.on('error', reject);
    req.end();
  });
}

const apiUrl = (p: string) => `${gateway.endpoint}/http-apis/${API}${p}`;
const fnUrl = (id: string, p: string) => `${gateway.endpoint}/function-urls/${id}${p}`;
const kitchenNewestFirst = readings.filter((r) => r.sensorId === 'kitchen').reverse().map((r) => ({ timestamp: r.timestamp, value: r.value }));

describe('the query handler bundle behind an HTTP API route and a Function URL', () => {
  test('GET /readings?sensorid=... answers the sensor\'s readings, newest first', async () => {
    const res = await fetch(apiUrl('/readings?sensorid=kitchen&limit=2'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = await res.json();
    // Over HTTP the status is the response's, not a field of the body.
    expect(body).toEqual({ sensorId: 'kitchen', items: kitchenNewestFirst.slice(0, 2), nextToken: expect.any(String) });
    const next = await (await fetch(apiUrl(`/readings?sensorid=kitchen&limit=2&nextToken=${encodeURIComponent(body.nextToken)}`))).json();
    expect(next.items).toEqual(kitchenNewestFirst.slice(2));
  });

  test('POST /readings with a JSON body; bad input is a 400 with the reason', async () => {
    const res = await fetch(apiUrl('/readings'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sensorid: 'garage' }) });
    expect(res.status).toBe(200);
    expect((await res.json()).items).toEqual([{ timestamp: readings[3].timestamp, value: 4.5 }]);
    const bad = await fetch(apiUrl('/readings?limit=2'));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/sensorid/);
  });

  test('a Function URL answers on any path, signed or not (authorization is not checked locally)', async () => {
    for (const p of ['/?sensorid=kitchen', '/anything/here?sensorid=kitchen']) {
      const res = await fetch(fnUrl(URL_ID, p), { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0' } });
      expect(res.status).toBe(200);
      expect((await res.json()).items).toEqual(kitchenNewestFirst);
    }
  });
});

describe('the version 2.0 event', () => {
  test('of an HTTP API route: path parameters, query string, headers, cookies, request context', async () => {
    const started = Date.now();
    // Node's client sends repeated headers as they are (fetch would join them itself).
    const [status, text] = await rawGet(apiUrl('/items/42?a=1&a=2&b=x%20y'),
      ['x-multi', 'one', 'X-Multi', 'two', 'cookie', 'c1=v1; c2=v2', 'user-agent', 'test-agent/1.0']);
    expect(status).toBe(200);
    const event = JSON.parse(text);
    expect(event).toEqual({
      version: '2.0',
      routeKey: 'GET /items/{id}',
      rawPath: '/items/42',
      rawQueryString: 'a=1&a=2&b=x%20y',
      cookies: ['c1=v1', 'c2=v2'],
      headers: expect.objectContaining({ 'x-multi': 'one,two', 'user-agent': 'test-agent/1.0', 'host': new URL(gateway.endpoint).host }),
      queryStringParameters: { a: '1,2', b: 'x y' },
      pathParameters: { id: '42' },
      requestContext: {
        accountId: ACCOUNT,
        apiId: API,
        domainName: new URL(gateway.endpoint).host,
        domainPrefix: API,
        http: { method: 'GET', path: '/items/42', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test-agent/1.0' },
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        routeKey: 'GET /items/{id}',
        stage: '$default',
        time: expect.stringMatching(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/),
        timeEpoch: expect.any(Number),
      },
      isBase64Encoded: false,
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.requestContext.timeEpoch).toBeGreaterThanOrEqual(started);
    expect(requestTime(Date.UTC(2020, 2, 12, 19, 3, 58))).toBe('12/Mar/2020:19:03:58 +0000');
  });

  test('bodies: JSON as text, anything else base64', async () => {
    const json = await (await fetch(apiUrl('/echo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).json();
    expect(json).toMatchObject({ routeKey: 'POST /echo', body: '{"a":1}', isBase64Encoded: false });
    const bin = await (await fetch(apiUrl('/echo'), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([1, 2, 3]) })).json();
    expect(bin).toMatchObject({ body: 'AQID', isBase64Encoded: true });
    const get = await (await fetch(apiUrl('/items/1'))).json();
    expect(get).not.toHaveProperty('body');
  });

  test('a named stage: its path prefix in rawPath, its variables', async () => {
    const event = await (await fetch(apiUrl('/prod/items/7'))).json();
    expect(event).toMatchObject({ rawPath: '/prod/items/7', routeKey: 'GET /items/{id}', pathParameters: { id: '7' }, stageVariables: { tier: 'gold' } });
    expect(event.requestContext.stage).toBe('prod');
  });

  test('of a Function URL: $default route, no path parameters or stage variables, anonymous account without auth', async () => {
    const event = await (await fetch(fnUrl(ECHO_URL_ID, '/some/path?x=1'))).json();
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/some/path',
      rawQueryString: 'x=1',
      queryStringParameters: { x: '1' },
      pathParameters: null,
      stageVariables: null,
      isBase64Encoded: false,
      requestContext: { accountId: 'anonymous', apiId: ECHO_URL_ID, domainPrefix: ECHO_URL_ID, routeKey: '$default', stage: '$default', http: { method: 'GET', path: '/some/path' } },
    });
  });
});

describe('route matching', () => {
  const keys = (method: string, p: string) => {
    const m = matchRoute(api.routes, method, p);
    return m && [m.route.routeKey, m.pathParameters];
  };

  test('literal over variable over greedy; a method over ANY; $default for the rest', () => {
    expect(keys('GET', '/items/special')).toEqual(['GET /items/special', undefined]);
    expect(keys('GET', '/items/7')).toEqual(['GET /items/{id}', { id: '7' }]);
    expect(keys('DELETE', '/echo/a/b/c')).toEqual(['ANY /echo/{proxy+}', { proxy: 'a/b/c' }]);
    expect(keys('POST', '/echo')).toEqual(['POST /echo', undefined]);
    expect(keys('GET', '/echo')).toEqual(['$default', undefined]);
    expect(keys('PUT', '/readings')).toEqual(['$default', undefined]);
    expect(keys('GET', '/items/7/more')).toEqual(['$default', undefined]);
    expect(matchRoute(api.routes.filter((r) => r.routeKey !== '$default'), 'GET', '/nothing')).toBeUndefined();
  });

  test('no route and no $default, or no such API: 404 Not Found', async () => {
    const res = await fetch(`${gateway.endpoint}/http-apis/nosuchapi0/readings`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: 'Not Found' });
  });
});

describe('the function\'s answer as the HTTP response', () => {
  test.each([['HTTP API'], ['Function URL']])('%s: inferred, structured, base64, cookies', async (kind) => {
    const base = kind === 'HTTP API' ? apiUrl('/items/1') : fnUrl(ECHO_URL_ID, '/');
    const plain = await fetch(`${base}?mode=plain`);
    expect([plain.status, plain.headers.get('content-type'), await plain.text()]).toEqual([200, 'application/json', '{"hello":"world","n":1}']);
    const text = await fetch(`${base}?mode=string`);
    expect([text.status, await text.text()]).toEqual([200, 'just text']);
    const bin = await fetch(`${base}?mode=binary`);
    expect(bin.status).toBe(201);
    expect(bin.headers.get('x-count')).toBe('2');
    expect(bin.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect([...Buffer.from(await bin.arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  test('a function error or an answer that is no response: the HTTP API\'s 500, the Function URL\'s 502', async () => {
    for (const mode of ['throw', 'bad']) {
      const a = await fetch(apiUrl(`/items/1?mode=${mode}`));
      expect([a.status, await a.text()]).toEqual([500, '{"message":"Internal Server Error"}']);
      const u = await fetch(fnUrl(ECHO_URL_ID, `/?mode=${mode}`));
      expect([u.status, await u.text()]).toEqual([502, 'Internal Server Error']);
    }
    expect(warnings).toEqual([
      expect.stringMatching(/^Test\/GET \/items\/\{id\} \(GET \/items\/\{id\}\): the function failed: Error: boom: 500$/),
      'Test/EchoUrl: the function failed: Error: boom: 502',
      'Test/GET /items/{id} (GET /items/{id}): statusCode "teapot" is not an HTTP status: 500',
      'Test/EchoUrl: statusCode "teapot" is not an HTTP status: 502',
    ]);
  });
});

describe('CORS as the template configures it', () => {
  test('a preflight from an allowed origin is answered by the endpoint itself', async () => {
    const res = await fetch(apiUrl('/readings'), {
      method: 'OPTIONS', headers: { 'origin': 'https://page.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(res.status).toBe(204);
    expect(Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('access-control-')))).toEqual({
      'access-control-allow-origin': 'https://page.example',
      'access-control-allow-methods': 'GET,POST',
      'access-control-allow-headers': 'authorization,content-type',
      'access-control-expose-headers': 'x-count',
      'access-control-max-age': '600',
    });
    const url = await fetch(fnUrl(URL_ID, '/'), { method: 'OPTIONS', headers: { 'origin': 'https://page.example', 'access-control-request-method': 'POST' } });
    expect(url.headers.get('access-control-allow-origin')).toBe('https://page.example');
  });

  test('another origin gets no CORS headers; an allowed one gets them on the answer, in place of the function\'s', async () => {
    const pre = await fetch(apiUrl('/readings'), { method: 'OPTIONS', headers: { 'origin': 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect([...pre.headers].filter(([k]) => k.startsWith('access-control-'))).toEqual([]);
    const other = await fetch(apiUrl('/readings?sensorid=kitchen'), { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await fetch(apiUrl('/items/1?mode=binary'), { headers: { origin: 'https://page.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://page.example');
    // Without CORS configured, the function's own headers pass through.
    const bare = await fetch(fnUrl(ECHO_URL_ID, '/?mode=binary'), { headers: { origin: 'https://page.example' } });
    expect(bare.headers.get('access-control-allow-origin')).toBe('https://evil.example');
  });
});
