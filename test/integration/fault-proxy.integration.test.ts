/**
 * The fault proxy's latency and capacity modes, in front of dynalite. (Its
 * faults are checked in processor.integration.test.ts, where they are used.)
 */
import { BatchWriteItemCommand, BatchWriteItemCommandOutput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CREDENTIALS, FaultProxy, FaultProxyOptions, LocalAws, REGION, TokenBucket } from '../../local/src';

jest.setTimeout(60_000);

let aws: LocalAws;
const TABLE = 'proxy-modes';

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createSensorTable(TABLE);
});

afterAll(async () => {
  await aws?.stop();
});

let batches = 0;
function puts(n: number) {
  const sensor = `batch-${++batches}`;
  return { sensor, requests: Array.from({ length: n }, (_, i) => ({ PutRequest: { Item: { SensorId: { S: sensor }, Timestamp: { S: `t${String(i).padStart(3, '0')}` }, Value: { N: String(i) } } } })) };
}

async function stored(sensor: string): Promise<string[]> {
  return (await aws.scanTable(TABLE)).filter((i) => i.SensorId.S === sensor).map((i) => i.Timestamp.S!).sort();
}

type ProxyModes = Omit<FaultProxyOptions, 'target' | 'faultTarget'>;

async function withProxy<T>(options: ProxyModes, fn: (client: DynamoDBClient, proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await FaultProxy.start({ target: aws.dynamo.endpoint, faultTarget: 'DynamoDB_20120810.BatchWriteItem', ...options });
  const client = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: proxy.endpoint, maxAttempts: 1 });
  try {
    return await fn(client, proxy);
  } finally {
    client.destroy();
    await proxy.close();
  }
}

describe('latency mode', () => {
  test('every call takes at least the round trip, and passes through unchanged', async () => {
    await withProxy({ latencyMs: 60 }, async (client, proxy) => {
      const { sensor, requests } = puts(3);
      const started = performance.now();
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: requests } }));
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(59);
      expect(out.UnprocessedItems).toEqual({});
      expect(await stored(sensor)).toEqual(['t000', 't001', 't002']);
      expect(proxy.counts.itemsForwarded).toBe(3);
      expect(proxy.totalFaults).toBe(0);
    });
  });

  test('a negative round trip is refused', async () => {
    await expect(FaultProxy.start({ target: aws.dynamo.endpoint, faultTarget: 'x', latencyMs: -1 })).rejects.toThrow('latencyMs must be 0 or more, got -1');
  });

  test('faults still need a kind to choose from', async () => {
    await expect(FaultProxy.start({ target: aws.dynamo.endpoint, faultTarget: 'x', faultRate: 0.5 })).rejects.toThrow('at least one fault kind is required');
  });
});

describe('capacity mode', () => {
  test('a call writes as many items as there are tokens, in request order, and returns the rest unprocessed; with none it is throttled', async () => {
    // One item a second: the bucket starts empty at the first call, so that call gets nothing.
    await withProxy({ capacity: { itemsPerSecond: 1, burstItems: 1 } }, async (client, proxy) => {
      const first = puts(25);
      const throttled = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: first.requests } })).catch((err: Error) => err);
      expect((throttled as Error).name).toBe('ProvisionedThroughputExceededException');
      expect(await stored(first.sensor)).toEqual([]);

      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const second = puts(25);
      const out: BatchWriteItemCommandOutput = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: second.requests } }));
      const left = out.UnprocessedItems![TABLE].map((w) => w.PutRequest!.Item!.Timestamp.S!);
      // One token: the first put is written, the other 24 come back, in order, and were not written.
      expect(await stored(second.sensor)).toEqual(['t000']);
      expect(left).toEqual(second.requests.slice(1).map((r) => r.PutRequest.Item.Timestamp.S));
      expect(proxy.counts).toMatchObject({ itemsForwarded: 1, itemsDeferred: 24, capacityThrottles: 1 });
    });
  });

  test('disabled, the proxy lets everything through', async () => {
    await withProxy({ capacity: { itemsPerSecond: 1 } }, async (client, proxy) => {
      proxy.enabled = false;
      const { sensor, requests } = puts(25);
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: requests } }));
      expect(out.UnprocessedItems).toEqual({});
      expect(await stored(sensor)).toHaveLength(25);
    });
  });
});

describe('TokenBucket', () => {
  test('refills at the rate up to its size, starting empty at the first take', () => {
    let now = 1_000;
    const bucket = new TokenBucket({ itemsPerSecond: 100, burstItems: 50 }, () => now);
    expect(bucket.take(10)).toBe(0);
    now += 100; // 10 tokens
    expect(bucket.take(4)).toBe(4);
    expect(bucket.take(25)).toBe(6);
    now += 5_000; // capped at 50
    expect(bucket.take(80)).toBe(50);
    now += 15; // 1.5 tokens: whole tokens only
    expect(bucket.take(5)).toBe(1);
    now += 5;
    expect(bucket.take(5)).toBe(1);
  });

  test('defaults to one second of capacity and refuses a rate or size that is not positive', () => {
    let now = 0;
    const bucket = new TokenBucket({ itemsPerSecond: 30 }, () => now);
    bucket.take(0);
    now += 10_000;
    expect(bucket.take(100)).toBe(30);
    expect(() => new TokenBucket({ itemsPerSecond: 0 })).toThrow('capacity.itemsPerSecond must be above 0, got 0');
    expect(() => new TokenBucket({ itemsPerSecond: 5, burstItems: 0.5 })).toThrow('capacity.burstItems must be 1 or more, got 0.5');
  });
});
