import type { BatchWriteItemCommandInput, BatchWriteItemCommandOutput, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { asClient, FakeClient, serviceError } from './helpers';
import { Reading } from '../../src/handlers/reading';
import {
  backoffDelay,
  chunk,
  DEFAULT_RETRY,
  dedupeByKey,
  isRetryable,
  MAX_BATCH_WRITE,
  PendingItem,
  RetryPolicy,
  toPutRequest,
  writeItems,
  WriteOptions,
} from '../../src/handlers/table-writer';

const TABLE = 'SensorData';

function reading(i: number, sensor = `s${i}`): Reading {
  return { sensorId: sensor, timestamp: new Date(Date.UTC(2024, 0, 2) + i * 1000).toISOString(), value: i };
}

function items(n: number): PendingItem[] {
  return Array.from({ length: n }, (_, i) => ({ reading: reading(i), sources: [i] }));
}

function keysOf(input: BatchWriteItemCommandInput): string[] {
  return (input.RequestItems?.[TABLE] ?? []).map((r) => {
    const item = r.PutRequest!.Item!;
    return `${item.SensorId.S}|${item.Timestamp.S}`;
  });
}

const keyOfItem = (item: PendingItem) => `${item.reading.sensorId}|${item.reading.timestamp}`;

/** A BatchWriteItem answer that leaves the given requests unprocessed. */
function unprocessed(requests: WriteRequest[]): BatchWriteItemCommandOutput {
  return { UnprocessedItems: requests.length > 0 ? { [TABLE]: requests } : {}, $metadata: {} };
}

/** Options that never wait: sleeps are recorded, and the random source is fixed. */
function instant(extra: Partial<WriteOptions> = {}): WriteOptions & { slept: number[] } {
  const slept: number[] = [];
  return {
    retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 },
    sleep: async (ms: number) => {
      slept.push(ms);
    },
    random: () => 0.5,
    ...extra,
    slept,
  };
}

describe('chunk', () => {
  test('sizes', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([1, 2, 3, 4], 2)).toEqual([[1, 2], [3, 4]]);
    expect(chunk([], 25)).toEqual([]);
    expect(chunk([1], 25)).toEqual([[1]]);
    expect(chunk(Array.from({ length: 60 }, (_, i) => i), MAX_BATCH_WRITE).map((c) => c.length)).toEqual([25, 25, 10]);
  });

  test('rejects sizes that are not positive integers', () => {
    for (const size of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => chunk([1, 2], size)).toThrow(/chunk size must be a positive integer/);
    }
  });

  test('property: concatenation restores the input, every chunk but the last is full', () => {
    fc.assert(fc.property(fc.array(fc.integer()), fc.integer({ min: 1, max: 30 }), (xs, size) => {
      const chunks = chunk(xs, size);
      expect(chunks.flat()).toEqual(xs);
      expect(chunks).toHaveLength(Math.ceil(xs.length / size));
      chunks.forEach((c, i) => {
        expect(c.length).toBeGreaterThan(0);
        if (i < chunks.length - 1) expect(c).toHaveLength(size);
        else expect(c.length).toBeLessThanOrEqual(size);
      });
    }));
  });
});

describe('dedupeByKey', () => {
  test('the last reading of a key wins and the sources are merged', () => {
    const ts = '2024-01-02T03:04:05.000Z';
    const out = dedupeByKey([
      { reading: { sensorId: 'a', timestamp: ts, value: 1 }, source: 0 },
      { reading: { sensorId: 'b', timestamp: ts, value: 2 }, source: 1 },
      { reading: { sensorId: 'a', timestamp: ts, value: 3 }, source: 2 },
      { reading: { sensorId: 'a', timestamp: '2024-01-02T03:04:06.000Z', value: 4 }, source: 2 },
      { reading: { sensorId: 'a', timestamp: ts, value: 5 }, source: 4 },
    ]);
    expect(out).toEqual([
      { reading: { sensorId: 'a', timestamp: ts, value: 5 }, sources: [0, 2, 4] },
      { reading: { sensorId: 'b', timestamp: ts, value: 2 }, sources: [1] },
      { reading: { sensorId: 'a', timestamp: '2024-01-02T03:04:06.000Z', value: 4 }, sources: [2] },
    ]);
  });

  test('keys do not collide when a sensor id ends like a timestamp', () => {
    const out = dedupeByKey([
      { reading: { sensorId: 'a#', timestamp: 'b', value: 1 }, source: 0 },
      { reading: { sensorId: 'a', timestamp: '#b', value: 2 }, source: 1 },
    ]);
    expect(out).toHaveLength(2);
  });

  test('property: unique keys, last value per key, every source kept once', () => {
    const entry = fc.record({
      reading: fc.record({ sensorId: fc.constantFrom('a', 'b', 'c'), timestamp: fc.constantFrom('t1', 't2'), value: fc.integer() }),
      source: fc.nat(50),
    });
    fc.assert(fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
      const out = dedupeByKey(entries);
      const keys = out.map(keyOfItem);
      expect(new Set(keys).size).toBe(keys.length);
      expect(out.flatMap((o) => o.sources).sort((x, y) => x - y)).toEqual(entries.map((e) => e.source).sort((x, y) => x - y));
      for (const o of out) {
        const same = entries.filter((e) => keyOfItem({ reading: e.reading, sources: [] }) === keyOfItem(o));
        expect(o.reading).toEqual(same[same.length - 1].reading);
        expect(o.sources).toEqual(same.map((e) => e.source));
      }
    }));
  });
});

describe('toPutRequest', () => {
  test('maps a reading to the table item', () => {
    expect(toPutRequest({ sensorId: 's1', timestamp: '2024-01-02T03:04:05.000Z', value: 21.5 })).toEqual({
      PutRequest: { Item: { SensorId: { S: 's1' }, Timestamp: { S: '2024-01-02T03:04:05.000Z' }, Value: { N: '21.5' } } },
    });
    expect(toPutRequest({ sensorId: 's1', timestamp: 't', value: 1e21 }).PutRequest!.Item!.Value).toEqual({ N: '1e+21' });
  });
});

describe('backoffDelay', () => {
  const policy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000 };

  test('full jitter over the capped exponential ceiling', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(0);
    expect(backoffDelay(1, policy, () => 0.5)).toBe(50);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(200);
    expect(backoffDelay(3, policy, () => 0.999999)).toBe(399);
    expect(backoffDelay(20, policy, () => 0.5)).toBe(2_500);
    expect(backoffDelay(20, policy, () => 0.999999)).toBe(4_999);
  });

  test('property: within [0, min(cap, base * 2^attempt)) and deterministic for a given random', () => {
    const anyPolicy = fc.record({
      maxAttempts: fc.constant(10),
      baseDelayMs: fc.integer({ min: 1, max: 1_000 }),
      maxDelayMs: fc.integer({ min: 1, max: 60_000 }),
    });
    const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
    fc.assert(fc.property(fc.integer({ min: 0, max: 60 }), anyPolicy, unit, (attempt, p, r) => {
      const delay = backoffDelay(attempt, p, () => r);
      const ceiling = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** attempt);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
      expect(delay).toBeLessThanOrEqual(p.maxDelayMs);
      expect(backoffDelay(attempt, p, () => r)).toBe(delay);
    }));
  });

  test('uses Math.random by default', () => {
    const spy = jest.spyOn(Math, 'random').mockReturnValue(0.25);
    try {
      expect(backoffDelay(2, policy)).toBe(50);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('isRetryable', () => {
  test('throttling and capacity errors, whatever their status', () => {
    for (const name of ['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError']) {
      expect(isRetryable(serviceError(name, 400))).toBe(true);
    }
  });

  test('server errors (5xx)', () => {
    expect(isRetryable(serviceError('SomethingBroke', 500))).toBe(true);
    expect(isRetryable(serviceError('SomethingBroke', 503))).toBe(true);
  });

  test('client errors (4xx) are not', () => {
    expect(isRetryable(serviceError('ValidationException', 400))).toBe(false);
    expect(isRetryable(serviceError('ResourceNotFoundException', 400))).toBe(false);
    expect(isRetryable(serviceError('AccessDeniedException', 403))).toBe(false);
    expect(isRetryable(serviceError('ItemCollectionSizeLimitExceededException', 400))).toBe(false);
  });

  test('the SDK $retryable marker wins over a 4xx status', () => {
    const err = serviceError('Whatever', 400) as Error & { $retryable: unknown };
    err.$retryable = { throttling: true };
    expect(isRetryable(err)).toBe(true);
  });

  test('no response at all is a network fault', () => {
    expect(isRetryable(new Error('socket hang up'))).toBe(true);
    expect(isRetryable(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(serviceError('ValidationException'))).toBe(true);
    expect(isRetryable(undefined)).toBe(true);
    expect(isRetryable('a string')).toBe(true);
  });
});

describe('writeItems', () => {
  test('splits into requests of at most 25 for one table', async () => {
    const fake = new FakeClient();
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(60), instant());
    expect(fake.commandNames).toEqual(['BatchWriteItemCommand', 'BatchWriteItemCommand', 'BatchWriteItemCommand']);
    expect(fake.inputs.map((i: BatchWriteItemCommandInput) => Object.keys(i.RequestItems!))).toEqual([[TABLE], [TABLE], [TABLE]]);
    expect(fake.inputs.map((i) => keysOf(i).length)).toEqual([25, 25, 10]);
    expect(fake.inputs.flatMap(keysOf)).toEqual(items(60).map(keyOfItem));
    expect(fake.inputs[0].RequestItems[TABLE][0]).toEqual(toPutRequest(reading(0)));
    expect(result).toEqual({ failed: [], calls: 3, retries: 0, lastError: undefined });
  });

  test('no items, no calls', async () => {
    const fake = new FakeClient();
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, [], instant());
    expect(result).toEqual({ failed: [], calls: 0, retries: 0, lastError: undefined });
    expect(fake.inputs).toHaveLength(0);
  });

  test('retries only the unprocessed items, after a backoff', async () => {
    const all = items(25);
    const fake = new FakeClient([
      (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE].filter((_, i) => i % 5 === 0)),
      (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE].slice(0, 1)),
    ]);
    const options = instant();
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    expect(fake.inputs.map(keysOf)).toEqual([
      all.map(keyOfItem),
      [0, 5, 10, 15, 20].map((i) => keyOfItem(all[i])),
      [keyOfItem(all[0])],
    ]);
    // random() = 0.5: half of min(1000, 100 * 2^attempt)
    expect(options.slept).toEqual([100, 200]);
    expect(result).toEqual({ failed: [], calls: 3, retries: 2, lastError: undefined });
  });

  test('an unprocessed item the request did not hold is ignored', async () => {
    const fake = new FakeClient([() => unprocessed([toPutRequest({ sensorId: 'ghost', timestamp: 't', value: 1 })])]);
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(3), instant());
    expect(fake.inputs).toHaveLength(1);
    expect(result.failed).toEqual([]);
  });

  test('stops at maxAttempts and hands back what is left', async () => {
    const all = items(30);
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE].slice(0, 2)));
    const options = instant({ retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 100 } });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    // four calls for each of the two chunks
    expect(fake.inputs.map((i) => keysOf(i).length)).toEqual([25, 2, 2, 2, 5, 2, 2, 2]);
    expect(result.calls).toBe(8);
    expect(result.retries).toBe(6);
    expect(options.slept).toEqual([10, 20, 40, 10, 20, 40]);
    expect(result.failed).toEqual([all[0], all[1], all[25], all[26]]);
  });

  test('maxAttempts 1 never retries', async () => {
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE]));
    const options = instant({ retry: { ...DEFAULT_RETRY, maxAttempts: 1 } });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(3), options);
    expect(fake.inputs).toHaveLength(1);
    expect(options.slept).toEqual([]);
    expect(result.failed).toHaveLength(3);
  });

  test('does not start a retry whose delay would eat into the safety margin', async () => {
    let clock = 0;
    const deadline = 2_000;
    const slept: number[] = [];
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => {
      clock += 10; // each call takes 10 ms
      return unprocessed(input.RequestItems![TABLE]);
    });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(2), {
      retry: { maxAttempts: 100, baseDelayMs: 100, maxDelayMs: 400 },
      remainingMs: () => deadline - clock,
      safetyMarginMs: 1_000,
      random: () => 0.5, // delays 100, 200, 200, ...
      sleep: async (ms) => {
        // the writer only sleeps when the margin is still free afterwards
        expect(deadline - clock - ms).toBeGreaterThanOrEqual(1_000);
        slept.push(ms);
        clock += ms;
      },
    });
    // calls and sleeps take 10 + 100 + 10 + 4 * (200 + 10) = 960 ms; another 200 ms would leave 1040 - 200 < 1000.
    expect(slept).toEqual([100, 200, 200, 200, 200]);
    expect(result.calls).toBe(6);
    expect(deadline - clock).toBe(1_040);
    expect(result.failed).toHaveLength(2);
  });

  test('a retry that leaves exactly the safety margin is still made', async () => {
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE]));
    // delays: attempt 1 -> 100 (1100 - 100 = 1000, allowed), attempt 2 -> 200 (900 < 1000, stop)
    const options = instant({ remainingMs: () => 1_100, safetyMarginMs: 1_000, random: () => 0.5 });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(1), options);
    expect(options.slept).toEqual([100]);
    expect(result.calls).toBe(2);
    expect(result.failed).toHaveLength(1);
  });

  test('the default safety margin is four seconds (one request timeout and time to report)', async () => {
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE]));
    const options = instant({ remainingMs: () => 4_099, random: () => 0.5 });
    await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(1), options);
    expect(options.slept).toEqual([]);
    expect(fake.inputs).toHaveLength(1);
    const late = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE]));
    const result = await writeItems(asClient<DynamoDBClient>(late), TABLE, items(1), instant({ remainingMs: () => 3_999 }));
    expect(late.inputs).toHaveLength(0);
    expect(result.failed).toHaveLength(1);
  });

  test('no time left: no call is started, everything comes back as failed', async () => {
    const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE]));
    const options = instant({ remainingMs: () => 500, safetyMarginMs: 1_000, random: () => 0 });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(30), options);
    expect(fake.inputs).toHaveLength(0);
    expect(options.slept).toEqual([]);
    expect(result.failed).toHaveLength(30);
    expect(result.retries).toBe(0);
  });

  test('a non-retryable error stops that chunk at once; the next chunk is still tried', async () => {
    const fake = new FakeClient([() => serviceError('ValidationException', 400)]);
    const all = items(27);
    const options = instant();
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    expect(fake.inputs.map((i) => keysOf(i).length)).toEqual([25, 2]);
    expect(options.slept).toEqual([]);
    expect(result.failed).toEqual(all.slice(0, 25));
    expect(result.lastError).toMatch(/^ValidationException: /);
  });

  test('throttling and network errors are retried with the same items', async () => {
    const fake = new FakeClient([
      () => serviceError('ProvisionedThroughputExceededException', 400),
      () => new Error('socket hang up'),
    ]);
    const all = items(4);
    const options = instant();
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    expect(fake.inputs.map(keysOf)).toEqual([all.map(keyOfItem), all.map(keyOfItem), all.map(keyOfItem)]);
    expect(options.slept).toEqual([100, 200]);
    expect(result).toEqual({ failed: [], calls: 3, retries: 2, lastError: 'Error: socket hang up' });
  });

  test('a retryable error on every attempt ends in failed with the last error', async () => {
    const fake = new FakeClient([], () => serviceError('InternalServerError', 500));
    const options = instant({ retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, items(3), options);
    expect(fake.inputs).toHaveLength(3);
    expect(result.failed).toHaveLength(3);
    expect(result.lastError).toMatch(/InternalServerError/);
  });

  test('property: requests stay within the limits and only unprocessed items are retried', async () => {
    const entry = fc.record({
      reading: fc.record({ sensorId: fc.constantFrom('a', 'b', 'c', 'd'), timestamp: fc.constantFrom('t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'), value: fc.integer() }),
      source: fc.nat(200),
    });
    // For each call: which requests come back unprocessed (by index), or an error.
    const answer = fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.nat(24), { maxLength: 25 }).map((picks) => ({ picks })) },
      { weight: 1, arbitrary: fc.constantFrom('throttled', 'invalid', 'network').map((error) => ({ error })) },
    );
    await fc.assert(fc.asyncProperty(fc.array(entry, { maxLength: 120 }), fc.array(answer, { maxLength: 30 }), fc.integer({ min: 1, max: 6 }),
      async (entries, answers, maxAttempts) => {
        const pending = dedupeByKey(entries);
        const chunks = chunk(pending, MAX_BATCH_WRITE).map((c) => c.map(keyOfItem));
        let nextChunk = 0;
        let outstanding: string[] = [];
        let retryAllowed = false;
        const expectedFailed: string[] = [];
        const fake = new FakeClient([], (input: BatchWriteItemCommandInput) => {
          const requests = input.RequestItems![TABLE];
          const keys = keysOf(input);
          expect(requests.length).toBeGreaterThan(0);
          expect(requests.length).toBeLessThanOrEqual(MAX_BATCH_WRITE);
          expect(new Set(keys).size).toBe(keys.length);
          if (nextChunk < chunks.length && keys.join() === chunks[nextChunk].join()) {
            // the first request of a chunk: what the previous chunk left is failed
            expectedFailed.push(...outstanding);
            nextChunk++;
          } else {
            // a retry: exactly what the previous answer left unprocessed
            expect(retryAllowed).toBe(true);
            expect(keys).toEqual(outstanding);
          }
          const a = answers.shift() ?? { picks: [] };
          if ('error' in a) {
            outstanding = keys;
            retryAllowed = a.error !== 'invalid';
            return a.error === 'throttled' ? serviceError('ThrottlingException', 400)
              : a.error === 'invalid' ? serviceError('ValidationException', 400) : new Error('ECONNRESET');
          }
          const left = requests.filter((_, i) => a.picks.includes(i));
          outstanding = keysOf({ RequestItems: { [TABLE]: left } });
          retryAllowed = left.length > 0;
          return unprocessed(left);
        });
        let sleeps = 0;
        const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, pending, {
          retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 10 },
          sleep: async () => {
            expect(retryAllowed).toBe(true);
            sleeps++;
          },
          random: () => 0,
        });
        expectedFailed.push(...outstanding);
        expect(nextChunk).toBe(chunks.length);
        expect(result.calls).toBe(fake.inputs.length);
        expect(result.retries).toBe(sleeps);
        expect(result.calls).toBe(chunks.length + sleeps);
        expect(result.calls).toBeLessThanOrEqual(chunks.length * maxAttempts);
        expect(result.failed.map(keyOfItem)).toEqual(expectedFailed);
        for (const item of result.failed) expect(pending).toContain(item);
      }), { numRuns: 300 });
  });
});
