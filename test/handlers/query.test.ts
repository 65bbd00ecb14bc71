import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient, QueryCommandInput } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { asClient, FakeClient, serviceError } from './helpers';
import { decodeToken, DEFAULT_LIMITS, encodeToken } from '../../src/handlers/query-input';
import { directAnswer, DirectResponse, handleQuery, MAX_DIRECT_ANSWER_BYTES, QueryDeps, QueryPage, querySensor } from '../../src/handlers/query.lambda';

const TABLE = 'SensorData';
const T1 = '2024-01-02T03:04:05.000Z';
const T2 = '2024-01-02T03:04:04.000Z';

function makeDeps(fake: FakeClient = new FakeClient()): QueryDeps & { fake: FakeClient } {
  return {
    dynamodb: asClient<DynamoDBClient>(fake),
    tableName: TABLE,
    limits: DEFAULT_LIMITS,
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    fake,
  };
}

const page = (last?: string) => () => ({
  Items: [
    { SensorId: { S: 's1' }, Timestamp: { S: T1 }, Value: { N: '21.5' } },
    { SensorId: { S: 's1' }, Timestamp: { S: T2 }, Value: { N: '-3' } },
  ],
  ...(last ? { LastEvaluatedKey: { SensorId: { S: 's1' }, Timestamp: { S: last } } } : {}),
});

const http = (query: Record<string, string> | null, body?: string, isBase64Encoded = false) => ({
  version: '2.0',
  rawPath: '/',
  requestContext: { http: { method: body === undefined ? 'GET' : 'POST', path: '/' } },
  queryStringParameters: query ?? undefined,
  ...(body !== undefined ? { body, isBase64Encoded } : {}),
});

describe('handleQuery, direct invocation', () => {
  test('200 with items, newest first, and a nextToken', async () => {
    const deps = makeDeps(new FakeClient([page(T2)]));
    const out = await handleQuery({ sensorid: 's1' }, deps);
    expect(out).toEqual({
      statusCode: 200,
      sensorId: 's1',
      items: [{ timestamp: T1, value: 21.5 }, { timestamp: T2, value: -3 }],
      nextToken: encodeToken('s1', T2),
      // The same rows in the reference's shape: the stored attributes, Value a number.
      Items: [{ SensorId: 's1', Timestamp: T1, Value: 21.5 }, { SensorId: 's1', Timestamp: T2, Value: -3 }],
      Count: 2,
    });
    expect(deps.fake.commandNames).toEqual(['QueryCommand']);
    const input = deps.fake.inputs[0] as QueryCommandInput;
    expect(input).toEqual({
      TableName: TABLE,
      KeyConditionExpression: '#id = :id',
      ExpressionAttributeNames: { '#id': 'SensorId' },
      ExpressionAttributeValues: { ':id': { S: 's1' } },
      ScanIndexForward: false,
      Limit: 20,
    });
  });

  test('the reference page\'s request: operation "query", or none; any other operation is refused', async () => {
    const deps = makeDeps(new FakeClient([page(), page()]));
    const asSent = JSON.parse('{"operation": "query", "sensorid": "s1"}');
    const withOperation = await handleQuery(asSent, deps) as DirectResponse;
    const without = await handleQuery({ sensorid: 's1' }, deps) as DirectResponse;
    expect(withOperation).toEqual(without);
    expect(withOperation.Items!.map((item) => `${item.Timestamp}\t${item.Value}`)).toEqual([`${T1}\t21.5`, `${T2}\t-3`]);
    expect((deps.fake.inputs as QueryCommandInput[]).map((i) => i.Limit)).toEqual([20, 20]);

    for (const operation of ['scan', 'Query', 'put', 7, true, ['query'], {}]) {
      expect(await handleQuery({ operation, sensorid: 's1' }, deps))
        .toEqual({ statusCode: 400, error: 'operation must be "query" (the only operation) or left out' });
    }
    expect(deps.fake.inputs).toHaveLength(2);
  });

  test('the last page has no nextToken', async () => {
    const out = await handleQuery({ sensorid: 's1' }, makeDeps(new FakeClient([page()])));
    expect(out).toMatchObject({ statusCode: 200 });
    expect((out as { nextToken?: string }).nextToken).toBeUndefined();
  });

  test('the next page continues after the token, within the range', async () => {
    const deps = makeDeps(new FakeClient([page()]));
    await handleQuery({ sensorid: 's1', limit: 5, from: '2024-01-01T00:00:00Z', to: T1, nextToken: encodeToken('s1', T2) }, deps);
    const input = deps.fake.inputs[0] as QueryCommandInput;
    expect(input.KeyConditionExpression).toBe('#id = :id AND #ts BETWEEN :from AND :to');
    expect(input.ExpressionAttributeNames).toEqual({ '#id': 'SensorId', '#ts': 'Timestamp' });
    expect(input.ExpressionAttributeValues).toEqual({ ':id': { S: 's1' }, ':from': { S: '2024-01-01T00:00:00.000Z' }, ':to': { S: T1 } });
    expect(input.ExclusiveStartKey).toEqual({ SensorId: { S: 's1' }, Timestamp: { S: T2 } });
    expect(input.Limit).toBe(5);
  });

  test('one-sided ranges', async () => {
    const deps = makeDeps();
    await handleQuery({ sensorid: 's1', from: T2 }, deps);
    await handleQuery({ sensorid: 's1', to: T1 }, deps);
    const [from, to] = deps.fake.inputs as QueryCommandInput[];
    expect(from.KeyConditionExpression).toBe('#id = :id AND #ts >= :from');
    expect(from.ExpressionAttributeValues).toEqual({ ':id': { S: 's1' }, ':from': { S: T2 } });
    expect(to.KeyConditionExpression).toBe('#id = :id AND #ts <= :to');
    expect(to.ExpressionAttributeValues).toEqual({ ':id': { S: 's1' }, ':to': { S: T1 } });
  });

  test('400 with the reason, and no query', async () => {
    const deps = makeDeps();
    expect(await handleQuery({}, deps)).toEqual({ statusCode: 400, error: 'sensorid is required' });
    expect(await handleQuery({ sensorid: 's1', limit: 0 }, deps)).toEqual({ statusCode: 400, error: 'limit must be an integer from 1 to 1000' });
    expect(await handleQuery({ sensorid: 's1', limit: 'many' }, deps)).toEqual({ statusCode: 400, error: 'limit must be an integer from 1 to 1000' });
    expect(await handleQuery({ sensorid: 's1', nextToken: encodeToken('s2', T1) }, deps)).toEqual({ statusCode: 400, error: 'nextToken is not valid for this sensor' });
    expect(await handleQuery({ sensorid: 's1', nextToken: 'eyJzIjoiczEiLCJ0IjoieCJ9' }, deps)).toEqual({ statusCode: 400, error: 'nextToken is not valid for this sensor' });
    expect(await handleQuery(null, deps)).toEqual({ statusCode: 400, error: 'the request must be a JSON object' });
    expect(await handleQuery('s1', deps)).toEqual({ statusCode: 400, error: 'the request must be a JSON object' });
    expect(deps.fake.inputs).toHaveLength(0);
  });

  test('500 when DynamoDB fails, with the error logged', async () => {
    const deps = makeDeps(new FakeClient([() => serviceError('ProvisionedThroughputExceededException', 400)]));
    const error = jest.spyOn(deps.logger, 'error');
    expect(await handleQuery({ sensorid: 's1' }, deps)).toEqual({ statusCode: 500, error: 'the query failed; try again' });
    expect(error).toHaveBeenCalledTimes(1);
  });
});

describe('handleQuery, HTTP (Function URL / HTTP API)', () => {
  test('query string: 200 as a JSON body', async () => {
    const deps = makeDeps(new FakeClient([page(T2)]));
    const out = await handleQuery(http({ sensorid: 's1', limit: '2' }), deps) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(out.statusCode).toBe(200);
    expect(out.headers).toEqual({ 'content-type': 'application/json' });
    const body = JSON.parse(out.body);
    // No Items over HTTP: the reference had no HTTP API, and the answer stays half the size.
    expect(body).toEqual({ sensorId: 's1', items: [{ timestamp: T1, value: 21.5 }, { timestamp: T2, value: -3 }], nextToken: encodeToken('s1', T2) });
    expect(decodeToken(body.nextToken, 's1')).toBe(T2);
    expect((deps.fake.inputs[0] as QueryCommandInput).Limit).toBe(2);
  });

  test('a JSON body, plain or base64', async () => {
    const deps = makeDeps();
    const plain = await handleQuery(http(null, JSON.stringify({ sensorId: 's9' })), deps);
    const encoded = await handleQuery(http(null, Buffer.from(JSON.stringify({ sensorid: 'é' })).toString('base64'), true), deps);
    expect(plain).toMatchObject({ statusCode: 200 });
    expect(encoded).toMatchObject({ statusCode: 200 });
    expect((deps.fake.inputs as QueryCommandInput[]).map((i) => i.ExpressionAttributeValues![':id'].S)).toEqual(['s9', 'é']);
  });

  test('400 with the reason in the body', async () => {
    const deps = makeDeps();
    const cases: Array<[unknown, string]> = [
      [http(null), 'sensorid is required'],
      [http({}), 'sensorid is required'],
      [http({ sensorid: 's1', limit: '1001' }), 'limit must be an integer from 1 to 1000'],
      [http({ sensorid: 's1', limit: '-3' }), 'limit must be an integer from 1 to 1000'],
      [http({ sensorid: 's1', nextToken: encodeToken('other', T1) }), 'nextToken is not valid for this sensor'],
      [http({ sensorid: 's1', nextToken: 'not*a*token' }), 'nextToken is not valid for this sensor'],
      [http({ sensorid: 's1', from: 'soon' }), 'from must be an ISO-8601 time or epoch seconds/milliseconds'],
      [http(null, '{"sensorid": "s1"'), 'the request body is not valid JSON'],
      [http(null, '[]'), 'the request must be a JSON object'],
      [http({ sensorid: 's1', operation: 'delete' }), 'operation must be "query" (the only operation) or left out'],
    ];
    for (const [request, reason] of cases) {
      const out = await handleQuery(request, deps) as { statusCode: number; headers: Record<string, string>; body: string };
      expect(out.statusCode).toBe(400);
      expect(out.headers['content-type']).toBe('application/json');
      expect(JSON.parse(out.body)).toEqual({ error: reason });
    }
    expect(deps.fake.inputs).toHaveLength(0);
  });

  test('500 as a JSON body', async () => {
    const deps = makeDeps(new FakeClient([() => new Error('socket hang up')]));
    const out = await handleQuery(http({ sensorid: 's1' }), deps) as { statusCode: number; body: string };
    expect(out.statusCode).toBe(500);
    expect(JSON.parse(out.body)).toEqual({ error: 'the query failed; try again' });
  });
});

describe('handleQuery never throws', () => {
  test('for arbitrary events, direct or HTTP', async () => {
    const deps = makeDeps();
    const httpish = fc.record({
      requestContext: fc.oneof(fc.constant({ http: { method: 'GET' } }), fc.anything()),
      queryStringParameters: fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom('sensorid', 'limit', 'from', 'to', 'nextToken', 'x'), fc.string())),
      body: fc.oneof(fc.constant(undefined), fc.string(), fc.jsonValue().map((v) => JSON.stringify(v))),
      isBase64Encoded: fc.boolean(),
    }, { requiredKeys: ['requestContext'] });
    await fc.assert(fc.asyncProperty(fc.oneof(fc.anything(), httpish), async (input) => {
      const out = await handleQuery(input, deps);
      expect([200, 400]).toContain(out.statusCode);
    }), { numRuns: 300 });
  });
});

describe('querySensor', () => {
  test('a missing value or timestamp does not break the page', async () => {
    const deps = makeDeps(new FakeClient([() => ({ Items: [{ SensorId: { S: 's1' } }] })]));
    const out = await querySensor(deps, { sensorId: 's1', limit: 1 });
    expect(out.items).toHaveLength(1);
    expect(out.items[0].timestamp).toBe('');
    expect(Number.isNaN(out.items[0].value)).toBe(true);
  });
});

describe('directAnswer', () => {
  const rows = (n: number, value = (i: number) => i) => Array.from({ length: n }, (_, i) => ({
    timestamp: new Date(Date.UTC(2024, 0, 1) - i * 1000).toISOString(), value: value(i),
  }));
  const bytes = (answer: unknown) => Buffer.byteLength(JSON.stringify(answer), 'utf8');

  test('Items and items agree row for row, whatever the page holds', () => {
    const reading = fc.record({ timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), value: fc.double() });
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1 }), fc.array(reading, { maxLength: 50 }), fc.option(fc.string()), (sensorId, items, token) => {
      const queried: QueryPage = { sensorId, items, ...(token !== null ? { nextToken: token } : {}) };
      // As Lambda hands it to the caller: serialized.
      const out = JSON.parse(JSON.stringify(directAnswer(queried))) as Required<DirectResponse>;
      expect(out.Items).toEqual(out.items.map((r) => ({ SensorId: sensorId, Timestamp: r.timestamp, Value: r.value })));
      expect(out.Count).toBe(out.Items.length);
      expect(out.items).toEqual(JSON.parse(JSON.stringify(items)));
    }));
  });

  test('a page that would weigh more than the limit ends early, with a token for the next row', () => {
    // The heaviest rows: the longest id the pipeline takes (2,048 bytes), all control characters (six bytes each
    // in JSON), as many as one 1 MB Query returns (2,097 bytes an item in DynamoDB's count).
    const sensorId = '\u0001'.repeat(2048);
    const items = rows(Math.ceil((1024 * 1024) / 2097));
    expect(items).toHaveLength(501);
    expect(bytes(directAnswer({ sensorId, items }, Number.MAX_SAFE_INTEGER))).toBeGreaterThan(6_200_000);
    const out = directAnswer({ sensorId, items });
    expect(bytes(out)).toBeLessThanOrEqual(MAX_DIRECT_ANSWER_BYTES);
    const kept = out.items!.length;
    expect(kept).toBeGreaterThan(400);
    expect(kept).toBeLessThan(501);
    expect(out.items).toEqual(items.slice(0, kept));
    expect(out.Count).toBe(kept);
    expect(decodeToken(out.nextToken!, sensorId)).toBe(items[kept - 1].timestamp);
    // One row more would not have fitted.
    expect(bytes(directAnswer({ sensorId, items: items.slice(0, kept + 1), nextToken: out.nextToken }, Number.MAX_SAFE_INTEGER)))
      .toBeGreaterThan(MAX_DIRECT_ANSWER_BYTES);
  });

  test('for any limit: within it, as many rows as fit, at least one, and the token continues after the last', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 200, max: 20_000 }), (sensorId, n, max) => {
      const items = rows(n, (i) => i * 1.25);
      const out = directAnswer({ sensorId, items }, max);
      const kept = out.items!.length;
      expect(kept).toBeGreaterThanOrEqual(1);
      expect(out.items).toEqual(items.slice(0, kept));
      // One row is kept even when it alone passes the limit (no real limit is that small).
      expect(kept === 1 || bytes(out) <= max).toBe(true);
      if (kept < n) {
        expect(decodeToken(out.nextToken!, sensorId)).toBe(items[kept - 1].timestamp);
        // The next row would not have fitted.
        expect(bytes(directAnswer({ sensorId, items: items.slice(0, kept + 1), nextToken: out.nextToken }, Number.MAX_SAFE_INTEGER)))
          .toBeGreaterThan(max);
      } else {
        expect(out.nextToken).toBeUndefined();
      }
    }), { numRuns: 500 });
  });
});
