/**
 * The bundled query handler (assets/handlers/query.lambda/index.js) against
 * dynalite, with seeded data.
 */
import { BatchWriteItemCommand, WriteRequest } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
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
/** A row as the reference's API answered it: the DocumentClient's Items. */
interface StoredItem { SensorId: string; Timestamp: string; Value: number }
interface Page { statusCode: number; error?: string; sensorId?: string; items?: Item[]; nextToken?: string; Items?: StoredItem[]; Count?: number }
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
    expect(await query({ sensorid: 'nobody' })).toEqual({ statusCode: 200, sensorId: 'nobody', items: [], Items: [], Count: 0 });
  });

  test('the reference test page\'s request: its 20 newest readings as Items, the fields the page prints', async () => {
    // Built as the page builds it, by string concatenation, and answered through JSON as Lambda does.
    const invoke = async (sensorid: string) => {
      const payload = '{"operation": "query", "sensorid": "' + sensorid + '"}';
      return JSON.parse(JSON.stringify(await query(JSON.parse(payload)))) as Page;
    };
    const answer = await invoke(BUSY);
    const expected = seeded.get(BUSY)!.slice(0, 20);
    expect(answer.Items).toEqual(expected.map((i) => ({ SensorId: BUSY, Timestamp: i.timestamp, Value: i.value })));
    expect(answer.Count).toBe(20);
    // What the page prints: Timestamp and Value, newest first; Value a number, as the DocumentClient returns a stored N.
    const printed: string[] = [];
    for (const item of answer.Items!) printed.push(item.Timestamp + '\t' + item.Value);
    expect(printed).toEqual(expected.map((i) => `${i.timestamp}\t${i.value}`));
    expect(printed[0]).toBe('2024-03-10T02:16:00.000Z\t204');
    expect(answer.Items!.every((i) => typeof i.Value === 'number')).toBe(true);
    // Our own fields are there too, row for row.
    expect(answer.items).toEqual(expected);

    expect((await invoke(NON_ASCII)).Items!.map((i) => i.SensorId)).toEqual([NON_ASCII, NON_ASCII, NON_ASCII]);
    expect(await invoke('nobody')).toEqual({ statusCode: 200, sensorId: 'nobody', items: [], Items: [], Count: 0 });
    // Unspecified by the reference, and kept working: no operation, extra fields; another operation is refused.
    expect(await query({ sensorid: BUSY, stage: 'demo' })).toEqual(answer);
    expect(await query({ operation: 'delete', sensorid: BUSY })).toEqual({ statusCode: 400, error: 'operation must be "query" (the only operation) or left out' });
  });

  test('Items and items agree, page after page, for any stored readings', async () => {
    const PROPERTY_TABLE = 'sensor-query-property';
    await aws.createSensorTable(PROPERTY_TABLE);
    const restore = setEnv({ TABLE_NAME: PROPERTY_TABLE });
    const propertyQuery = loadBundle<typeof Query>('query').handler as (event: unknown) => Promise<Page>;
    // Ids of any characters up to the 256 bytes the pipeline takes by default, these included.
    const sensorId = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }).filter((s) => s.trim().length > 0 && Buffer.byteLength(s) <= 256),
      fc.constantFrom('é'.repeat(128), 'a'.repeat(256), '"\\'.repeat(128), '\u0001'.repeat(256), '🌡'.repeat(64)),
    );
    // Values DynamoDB stores as N (the processor refuses the rest), and times as the processor stores them.
    const value = fc.oneof(
      fc.double({ min: -9.9e125, max: 9.9e125, noNaN: true }).filter((v) => v === 0 || Math.abs(v) >= 1e-130),
      fc.integer(), fc.constantFrom(0, -0, 1e-130, -9.9e125, 0.1, Number.MAX_SAFE_INTEGER),
    );
    const timestamp = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }).map((ms) => new Date(ms).toISOString());
    const readings = fc.uniqueArray(fc.record({ timestamp, value }), { selector: (r) => r.timestamp, maxLength: 60 });
    const limit = fc.option(fc.integer({ min: 1, max: 25 }), { nil: undefined });

    const write = async (requests: WriteRequest[]) => {
      for (let i = 0; i < requests.length; i += 25) {
        await aws.dynamodbClient.send(new BatchWriteItemCommand({ RequestItems: { [PROPERTY_TABLE]: requests.slice(i, i + 25) } }));
      }
    };
    try {
      await fc.assert(fc.asyncProperty(sensorId, readings, limit, async (id, rows, pageSize) => {
        // Stored as the processor stores a reading.
        await write(rows.map((r) => ({
          PutRequest: { Item: { SensorId: { S: id }, Timestamp: { S: r.timestamp }, Value: { N: String(r.value) } } },
        })));
        try {
          const all: Item[] = [];
          let nextToken: string | undefined;
          let pages = 0;
          do {
            const answer = JSON.parse(JSON.stringify(await propertyQuery({ operation: 'query', sensorid: id, limit: pageSize, nextToken }))) as Page;
            expect(answer.statusCode).toBe(200);
            expect(answer.Items).toEqual(answer.items!.map((i) => ({ SensorId: id, Timestamp: i.timestamp, Value: i.value })));
            expect(answer.Count).toBe(answer.items!.length);
            all.push(...answer.items!);
            nextToken = answer.nextToken;
            if (++pages > 100) throw new Error('pagination does not end');
          } while (nextToken);
          const newestFirst = [...rows].sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1));
          // -0 is stored as 0.
          expect(all).toEqual(newestFirst.map((r) => ({ timestamp: r.timestamp, value: r.value === 0 ? 0 : r.value })));
        } finally {
          await write(rows.map((r) => ({ DeleteRequest: { Key: { SensorId: { S: id }, Timestamp: { S: r.timestamp } } } })));
        }
      }), { numRuns: 100 });
    } finally {
      restore();
    }
  });

  test('a page of the heaviest rows stays within what Lambda can return, and paging still reaches every row', async () => {
    const HEAVY_TABLE = 'sensor-query-heavy';
    await aws.createSensorTable(HEAVY_TABLE);
    // The longest id the pipeline takes, in characters JSON writes in six bytes each.
    const id = '\u0001'.repeat(2048);
    const rows: Item[] = Array.from({ length: 700 }, (_, i) => ({ timestamp: new Date(START + i * 1000).toISOString(), value: i }));
    for (let i = 0; i < rows.length; i += 25) {
      await aws.dynamodbClient.send(new BatchWriteItemCommand({
        RequestItems: {
          [HEAVY_TABLE]: rows.slice(i, i + 25).map((r) => ({
            PutRequest: { Item: { SensorId: { S: id }, Timestamp: { S: r.timestamp }, Value: { N: String(r.value) } } },
          })),
        },
      }));
    }
    const restore = setEnv({ TABLE_NAME: HEAVY_TABLE, MAX_SENSOR_ID_LENGTH: '2048' });
    try {
      const heavy = loadBundle<typeof Query>('query').handler as (event: unknown) => Promise<Page>;
      const sizes: number[] = [];
      const all: Item[] = [];
      let nextToken: string | undefined;
      do {
        const answer = await heavy({ sensorid: id, limit: 1000, nextToken });
        expect(answer.statusCode).toBe(200);
        sizes.push(Buffer.byteLength(JSON.stringify(answer)));
        all.push(...answer.items!);
        nextToken = answer.nextToken;
        if (sizes.length > 20) throw new Error('pagination does not end');
      } while (nextToken);
      expect(all).toEqual([...rows].reverse());
      // MAX_DIRECT_ANSWER_BYTES: the first page alone would weigh 6.23 MB, next to Lambda's 6 MB.
      expect(Math.max(...sizes)).toBeLessThanOrEqual(5 * 1024 * 1024);
      expect(sizes.length).toBeGreaterThan(1);
    } finally {
      restore();
    }
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
