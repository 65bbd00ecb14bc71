import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient, QueryCommandInput } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { asClient, FakeClient, serviceError } from './helpers';
import { decodeToken, DEFAULT_LIMITS, encodeToken } from '../../src/handlers/query-input';
import { handleQuery, QueryDeps, querySensor } from '../../src/handlers/query.lambda';

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
