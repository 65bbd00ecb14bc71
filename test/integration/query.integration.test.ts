/**
 * The bundled query handler (assets/handlers/query.lambda/index.js) against
 * dynalite, with seeded data.
 */
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { loadBundle, setEnv } from './bundles';
import { LocalAws } from '../../local/src';
import type * as Query from '../../src/handlers/query.lambda';

jest.setTimeout(60_000);

const TABLE = 'sensor-query';
const BUSY = 'sensor-busy';
const OTHER = 'sensor-other';
const NON_ASCII = 'Küche/température-🌡️';
const START = Date.UTC(2024, 2, 10, 0, 0, 0);

interface Item { timestamp: string; value: number }
interface Page { statusCode: number; error?: string; sensorId?: string; items?: Item[]; nextToken?: string }
interface HttpResponse { statusCode: number; headers: Record<string, string>; body: string }

let aws: LocalAws;
let restoreEnv: () => void = () => undefined;
let query: (event: unknown) => Promise<Page>;
/** Per sensor, newest first. */
const seeded = new Map<string, Item[]>();

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createSensorTable(TABLE);
  // 137 readings a minute apart, 12 for another sensor, 3 for a non-ASCII id.
  const rows: Array<{ sensorId: string } & Item> = [];
  for (let i = 0; i < 137; i++) rows.push({ sensorId: BUSY, timestamp: new Date(START + i * 60_000).toISOString(), value: i * 1.5 });
  for (let i = 0; i < 12; i++) rows.push({ sensorId: OTHER, timestamp: new Date(START + i * 3_600_000).toISOString(), value: -i });
  for (let i = 0; i < 3; i++) rows.push({ sensorId: NON_ASCII, timestamp: new Date(START + i * 1_000).toISOString(), value: 20 + i });
  for (let i = 0; i < rows.length; i += 25) {
    await aws.dynamodbClient.send(new BatchWriteItemCommand({
      RequestItems: {
        [TABLE]: rows.slice(i, i + 25).map((r) => ({
          PutRequest: { Item: { SensorId: { S: r.sensorId }, Timestamp: { S: r.timestamp }, Value: { N: String(r.value) } } },
        })),
      },
    }));
  }
  for (const r of rows) seeded.set(r.sensorId, [...(seeded.get(r.sensorId) ?? []), { timestamp: r.timestamp, value: r.value }]);
  for (const list of seeded.values()) list.sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1));
  expect((await aws.scanTable(TABLE)).length).toBe(152);

  restoreEnv = setEnv(aws.handlerEnv({ TABLE_NAME: TABLE }));
  const bundle = loadBundle<typeof Query>('query');
  query = (event) => bundle.handler(event) as Promise<Page>;
});

afterAll(async () => {
  restoreEnv();
  await aws?.stop();
});

/** Every page until there is no nextToken; fails on an endless chain. */
async function allPages(request: Record<string, unknown>): Promise<{ pages: Page[]; items: Item[] }> {
  const pages: Page[] = [];
  let nextToken: string | undefined;
  do {
    const page = await query({ ...request, nextToken });
    expect(page.statusCode).toBe(200);
    pages.push(page);
    nextToken = page.nextToken;
    if (pages.length > 200) throw new Error('pagination does not end');
  } while (nextToken);
  return { pages, items: pages.flatMap((p) => p.items!) };
}

describe('bundled query handler against dynalite', () => {
  test('newest first, 20 by default', async () => {
    const page = await query({ sensorid: BUSY });
    expect(page.statusCode).toBe(200);
    expect(page.sensorId).toBe(BUSY);
    expect(page.items).toEqual(seeded.get(BUSY)!.slice(0, 20));
    expect(page.nextToken).toEqual(expect.any(String));
  });

  test('limit', async () => {
    const page = await query({ sensorId: BUSY, limit: 7 });
    expect(page.items).toEqual(seeded.get(BUSY)!.slice(0, 7));
    const asString = await query({ sensorid: BUSY, limit: '3' });
    expect(asString.items).toEqual(seeded.get(BUSY)!.slice(0, 3));
    expect((await query({ sensorid: BUSY, limit: 1001 })).statusCode).toBe(400);
    expect((await query({ sensorid: BUSY, limit: 0 })).error).toBe('limit must be an integer from 1 to 1000');
  });

  test('from/to range, inclusive, newest first', async () => {
    const from = new Date(START + 30 * 60_000).toISOString();
    const to = new Date(START + 40 * 60_000).toISOString();
    const page = await query({ sensorid: BUSY, from, to, limit: 100 });
    const expected = seeded.get(BUSY)!.filter((i) => i.timestamp >= from && i.timestamp <= to);
    expect(expected).toHaveLength(11);
    expect(page.items).toEqual(expected);
    expect(page.nextToken).toBeUndefined();
    // Epoch seconds work as well, and a single bound.
    const since = await query({ sensorid: BUSY, from: String((START + 130 * 60_000) / 1000), limit: 100 });
    expect(since.items).toEqual(seeded.get(BUSY)!.slice(0, 7));
    const until = await query({ sensorid: BUSY, to: START + 2 * 60_000, limit: 100 });
    expect(until.items).toEqual(seeded.get(BUSY)!.slice(-3));
    expect((await query({ sensorid: BUSY, from: to, to: from })).error).toBe('from must not be later than to');
    expect((await query({ sensorid: BUSY, from: 'yesterday' })).statusCode).toBe(400);
  });

  test('paging with nextToken returns every item exactly once, in order', async () => {
    for (const limit of [1, 7, 20, 137, 500]) {
      const { pages, items } = await allPages({ sensorid: BUSY, limit });
      expect(items).toEqual(seeded.get(BUSY));
      expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(137 / limit));
      expect(pages.length).toBeLessThanOrEqual(Math.ceil(137 / limit) + 1);
    }
    // Within a range, too.
    const from = new Date(START + 10 * 60_000).toISOString();
    const to = new Date(START + 99 * 60_000).toISOString();
    const { items } = await allPages({ sensorid: BUSY, from, to, limit: 13 });
    expect(items).toEqual(seeded.get(BUSY)!.filter((i) => i.timestamp >= from && i.timestamp <= to));
    expect(items).toHaveLength(90);
    // A non-ASCII sensor id.
    expect((await allPages({ sensorid: NON_ASCII, limit: 2 })).items).toEqual(seeded.get(NON_ASCII));
  });

  test('a token of another sensor, a forged or a tampered token: 400 with the reason', async () => {
    const otherToken = (await query({ sensorid: OTHER, limit: 2 })).nextToken!;
    expect(otherToken).toEqual(expect.any(String));
    expect(await query({ sensorid: BUSY, nextToken: otherToken })).toEqual({ statusCode: 400, error: 'nextToken is not valid for this sensor' });

    const forge = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    for (const token of [
      'not a token!',
      forge({ s: BUSY }),
      forge({ s: BUSY, t: 'yesterday' }),
      forge({ s: BUSY, t: '2024-03-10T00:10:00Z' }), // not the stored form (milliseconds)
      forge([BUSY, '2024-03-10T00:10:00.000Z']),
      'A'.repeat(3000),
    ]) {
      const page = await query({ sensorid: BUSY, nextToken: token });
      expect(page).toEqual({ statusCode: 400, error: 'nextToken is not valid for this sensor' });
    }
    // A well-formed token outside the requested range.
    const inRange = forge({ s: BUSY, t: new Date(START + 5 * 60_000).toISOString() });
    expect((await query({ sensorid: BUSY, nextToken: inRange, from: new Date(START + 50 * 60_000).toISOString() })).error)
      .toBe('nextToken is outside the requested time range');
    // A token the handler made continues where it said.
    const ownToken = forge({ s: BUSY, t: seeded.get(BUSY)![4].timestamp });
    expect((await query({ sensorid: BUSY, nextToken: ownToken, limit: 2 })).items).toEqual(seeded.get(BUSY)!.slice(5, 7));
  });

  test('missing or invalid sensor id: 400', async () => {
    expect(await query({})).toEqual({ statusCode: 400, error: 'sensorid is required' });
    expect(await query({ sensorid: '' })).toEqual({ statusCode: 400, error: 'sensorid is required' });
    expect(await query({ sensorid: 42 })).toEqual({ statusCode: 400, error: 'sensorid must be a non-empty string' });
    expect(await query('sensor-busy')).toEqual({ statusCode: 400, error: 'the request must be a JSON object' });
    expect((await query({ sensorid: 'x'.repeat(300) })).statusCode).toBe(400);
  });

  test('an unknown sensor: 200 with no items', async () => {
    expect(await query({ sensorid: 'nobody' })).toEqual({ statusCode: 200, sensorId: 'nobody', items: [] });
  });

  test('HTTP events (Function URL / HTTP API): query string, JSON body, base64 body, errors as HTTP 400', async () => {
    const http = (extra: Record<string, unknown>) => ({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'GET', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' } },
      isBase64Encoded: false,
      ...extra,
    });
    const call = async (event: unknown) => {
      const response = await query(event) as unknown as HttpResponse;
      expect(response.headers).toEqual({ 'content-type': 'application/json' });
      return { statusCode: response.statusCode, body: JSON.parse(response.body) as Page };
    };

    const viaQueryString = await call(http({ rawQueryString: `sensorid=${BUSY}&limit=4`, queryStringParameters: { sensorid: BUSY, limit: '4' } }));
    expect(viaQueryString.statusCode).toBe(200);
    expect(viaQueryString.body.items).toEqual(seeded.get(BUSY)!.slice(0, 4));
    const next = await call(http({ queryStringParameters: { sensorid: BUSY, limit: '4', nextToken: viaQueryString.body.nextToken } }));
    expect(next.body.items).toEqual(seeded.get(BUSY)!.slice(4, 8));

    const viaBody = await call(http({ body: JSON.stringify({ sensorid: NON_ASCII }) }));
    expect(viaBody.body.items).toEqual(seeded.get(NON_ASCII));
    const viaBase64 = await call(http({ body: Buffer.from(JSON.stringify({ sensorid: OTHER, limit: 5 })).toString('base64'), isBase64Encoded: true }));
    expect(viaBase64.body.items).toEqual(seeded.get(OTHER)!.slice(0, 5));

    expect(await call(http({}))).toEqual({ statusCode: 400, body: { error: 'sensorid is required' } });
    expect(await call(http({ body: '{not json' }))).toEqual({ statusCode: 400, body: { error: 'the request body is not valid JSON' } });
    expect(await call(http({ queryStringParameters: { sensorid: BUSY, nextToken: 'forged' } })))
      .toEqual({ statusCode: 400, body: { error: 'nextToken is not valid for this sensor' } });
  });

  test('QUERY_DEFAULT_LIMIT and QUERY_MAX_LIMIT', async () => {
    const restore = setEnv({ QUERY_DEFAULT_LIMIT: '5', QUERY_MAX_LIMIT: '10' });
    try {
      const bundle = loadBundle<typeof Query>('query');
      const limited = (event: unknown) => bundle.handler(event) as Promise<Page>;
      expect((await limited({ sensorid: BUSY })).items).toEqual(seeded.get(BUSY)!.slice(0, 5));
      expect((await limited({ sensorid: BUSY, limit: 10 })).items).toHaveLength(10);
      expect(await limited({ sensorid: BUSY, limit: 11 })).toEqual({ statusCode: 400, error: 'limit must be an integer from 1 to 10' });
    } finally {
      restore();
    }
  });
});
