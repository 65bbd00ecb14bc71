import type { BatchWriteItemCommandInput, BatchWriteItemCommandOutput, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { asClient, FakeClient, serviceError } from './helpers';
import { Reading } from '../../src/handlers/reading';
import {
  backoffDelay,
  chunk,
  DEFAULT_RETRY,
  DEFAULT_WRITE_CONCURRENCY,
  dedupeByKey,
  isRetryable,
  MAX_BATCH_WRITE,
  MAX_WRITE_CONCURRENCY,
  PendingItem,
  RetryPolicy,
  toPutRequest,
  validateConcurrency,
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
    // random() = 0.5: half of min(1000, 100 * 2^1); each round wrote something, so the wait does not grow.
    expect(options.slept).toEqual([100, 100]);
    expect(result).toEqual({ failed: [], calls: 3, retries: 2, lastError: undefined });
  });

  test('leftovers of all requests are coalesced into full requests of 25, in record order', async () => {
    const all = items(200);
    // The first round leaves 5 items of each of its 8 requests; the second writes everything.
    const fake = new FakeClient(
      Array.from({ length: 8 }, () => (input: BatchWriteItemCommandInput) => unprocessed(input.RequestItems![TABLE].slice(20))),
    );
    const options = instant({ concurrency: 8 });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    expect(fake.inputs.map((i) => keysOf(i).length)).toEqual([25, 25, 25, 25, 25, 25, 25, 25, 25, 15]);
    const leftovers = all.filter((_, i) => i % 25 >= 20).map(keyOfItem);
    expect(fake.inputs.slice(8).flatMap(keysOf)).toEqual(leftovers);
    expect(options.slept).toEqual([100]);
    expect(result).toEqual({ failed: [], calls: 10, retries: 1, lastError: undefined });
  });

  test('at most `concurrency` requests are in flight', async () => {
    for (const concurrency of [1, 3, 8]) {
      let inFlight = 0;
      let most = 0;
      const client = {
        send: async () => {
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          inFlight--;
          return unprocessed([]);
        },
      };
      const result = await writeItems(client as unknown as DynamoDBClient, TABLE, items(500), instant({ concurrency }));
      expect(result.calls).toBe(20);
      expect(most).toBe(concurrency);
    }
  });

  test('the default concurrency is DEFAULT_WRITE_CONCURRENCY; other settings are refused with the setting named', async () => {
    let inFlight = 0;
    let most = 0;
    const client = {
      send: async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return unprocessed([]);
      },
    };
    await writeItems(client as unknown as DynamoDBClient, TABLE, items(1_000), instant());
    expect(most).toBe(DEFAULT_WRITE_CONCURRENCY);
    for (const bad of [0, -1, 1.5, Number.NaN, MAX_WRITE_CONCURRENCY + 1]) {
      await expect(writeItems(asClient<DynamoDBClient>(new FakeClient()), TABLE, items(1), instant({ concurrency: bad })))
        .rejects.toThrow(`concurrency must be an integer from 1 to ${MAX_WRITE_CONCURRENCY}, got ${bad}`);
    }
    expect(() => validateConcurrency(0, 'ProcessorDeps.writeOptions.concurrency')).toThrow(/^ProcessorDeps.writeOptions.concurrency must be/);
    expect(validateConcurrency(MAX_WRITE_CONCURRENCY)).toBe(MAX_WRITE_CONCURRENCY);
  });

  test('while nothing gets through the wait grows and a round sends one request; once the table takes items again, the offer doubles', async () => {
    const all = items(200);
    // Three rounds throttled, then a table that takes 25 items a call.
    const fake = new FakeClient(
      [
        ...Array.from({ length: 8 }, () => () => serviceError('ProvisionedThroughputExceededException', 400)),
        () => serviceError('ProvisionedThroughputExceededException', 400),
        () => serviceError('ProvisionedThroughputExceededException', 400),
      ],
      () => unprocessed([]),
    );
    const options = instant({ retry: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 10_000 } });
    const result = await writeItems(asClient<DynamoDBClient>(fake), TABLE, all, options);
    // Round 0 sends 8 requests; rounds 1 to 3 one probe each (the batch's first 25 items), the third
    // of which gets through; then 50 and 100 items are offered, and the last 25.
    expect(fake.inputs.map((i) => keysOf(i).length)).toEqual(Array.from({ length: 18 }, () => 25));
    expect(fake.inputs.slice(8, 11).map(keysOf)).toEqual([keysOf(fake.inputs[0]), keysOf(fake.inputs[0]), keysOf(fake.inputs[0])]);
    expect(fake.inputs.slice(11).flatMap(keysOf)).toEqual(all.slice(25).map(keyOfItem));
    // waits: levels 1, 2, 3 while throttled, then 1 after each round that wrote something
    expect(options.slept).toEqual([100, 200, 400, 100, 100, 100]);
    expect(result.failed).toEqual([]);
    expect(result.calls).toBe(18);
    expect(result.retries).toBe(6);
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
    // Round 0 leaves items 0, 1, 25 and 26; round 1 sends them in one request and leaves 0 and 1,
    // which are sent twice more and then given up: four sends each.
    expect(fake.inputs.map(keysOf)).toEqual([
      all.slice(0, 25).map(keyOfItem),
      all.slice(25).map(keyOfItem),
      [all[0], all[1], all[25], all[26]].map(keyOfItem),
      [all[0], all[1]].map(keyOfItem),
      [all[0], all[1]].map(keyOfItem),
    ]);
    expect(result.calls).toBe(5);
    expect(result.retries).toBe(3);
    // rounds 1 and 2 follow rounds that wrote something (level 1); round 3 follows one that wrote nothing (level 2)
    expect(options.slept).toEqual([10, 10, 20]);
    expect(result.failed).toEqual([all[0], all[1]]);
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

  test('a non-retryable error fails that request\'s items at once; the other requests are still sent', async () => {
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

  /**
   * A scripted table: each call is answered by the next step of a script
   * (leave some of the request's items unprocessed, throttle, fail with a
   * client error, or lose the connection before or after the write), after a
   * number of event-loop turns, so that requests overlap as they do over a
   * network. The table keeps what was written and how often each write was
   * acknowledged.
   */
  type ScriptStep =
    | { kind: 'answer'; unprocessed: number[]; turns: number }
    | { kind: 'throttle' | 'invalid' | 'lost-before' | 'lost-after'; turns: number };

  const step: fc.Arbitrary<ScriptStep> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('answer' as const), unprocessed: fc.array(fc.nat(24), { maxLength: 25 }), turns: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('throttle' as const, 'invalid' as const, 'lost-before' as const, 'lost-after' as const), turns: fc.nat(3) }) },
  );

  class ScriptedTable {
    readonly stored = new Map<string, number>();
    readonly acknowledged = new Map<string, number>();
    readonly requests: string[][] = [];
    readonly events: Array<{ type: 'send'; size: number } | { type: 'sleep' }> = [];
    inFlight = new Set<string>();
    mostInFlight = 0;
    /** Broken rules, kept here and checked after the run: the writer catches what `send` throws. */
    readonly violations: string[] = [];
    private calls = 0;

    constructor(private readonly script: ScriptStep[], private readonly onCall: (violations: string[]) => void = () => undefined) {}

    readonly send = async (command: { input: BatchWriteItemCommandInput }): Promise<BatchWriteItemCommandOutput> => {
      this.onCall(this.violations);
      const requests = command.input.RequestItems![TABLE];
      const keys = keysOf(command.input);
      this.requests.push(keys);
      this.events.push({ type: 'send', size: keys.length });
      for (const k of keys) {
        if (this.inFlight.has(k)) this.violations.push(`${k} sent while a request with it was in flight`);
        this.inFlight.add(k);
      }
      this.mostInFlight = Math.max(this.mostInFlight, ++this.calls);
      const s = this.script.shift() ?? { kind: 'answer', unprocessed: [], turns: 0 };
      for (let i = 0; i < s.turns; i++) await new Promise((resolve) => setImmediate(resolve));
      this.calls--;
      for (const k of keys) this.inFlight.delete(k);
      const store = (written: string[]) => {
        for (const k of written) this.stored.set(k, (this.stored.get(k) ?? 0) + 1);
      };
      switch (s.kind) {
        case 'throttle': throw serviceError('ProvisionedThroughputExceededException', 400);
        case 'invalid': throw serviceError('ValidationException', 400);
        case 'lost-before': throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        case 'lost-after':
          // The write happened; the answer was lost.
          store(keys);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        case 'answer': {
          const left = requests.filter((_, i) => s.unprocessed.includes(i));
          const leftKeys = new Set(keysOf({ RequestItems: { [TABLE]: left } }));
          const written = keys.filter((k) => !leftKeys.has(k));
          store(written);
          for (const k of written) this.acknowledged.set(k, (this.acknowledged.get(k) ?? 0) + 1);
          return unprocessed(left);
        }
      }
    };
  }

  const pendingItems = fc.array(fc.record({
    reading: fc.record({ sensorId: fc.constantFrom('a', 'b', 'c', 'd', 'e'), timestamp: fc.integer({ min: 0, max: 99 }).map((t) => `t${t}`), value: fc.integer() }),
    source: fc.nat(500),
  }), { maxLength: 300 }).map(dedupeByKey);

  test('property: any mix of unprocessed items, throttles and errors: every item is written and acknowledged once, or reported failed', async () => {
    await fc.assert(fc.asyncProperty(pendingItems, fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }),
      async (pending, script, maxAttempts, concurrency) => {
        const table = new ScriptedTable([...script]);
        const result = await writeItems({ send: table.send } as unknown as DynamoDBClient, TABLE, pending, {
          retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 10 },
          concurrency,
          sleep: async () => {
            table.events.push({ type: 'sleep' });
          },
          random: () => 0,
        });
        expect(table.violations).toEqual([]);
        const failed = new Set(result.failed.map(keyOfItem));
        // Failed items are a subset of the input, in input order.
        expect(result.failed).toEqual(pending.filter((p) => failed.has(keyOfItem(p))));
        for (const item of pending) {
          const key = keyOfItem(item);
          const sent = table.requests.filter((r) => r.includes(key)).length;
          expect(sent).toBeGreaterThan(0);
          expect(sent).toBeLessThanOrEqual(maxAttempts);
          if (failed.has(key)) {
            // Reported: never acknowledged (it may have been stored by a write whose answer was lost).
            expect(table.acknowledged.get(key) ?? 0).toBe(0);
          } else {
            // Written: acknowledged exactly once and never sent again after that.
            expect(table.stored.get(key) ?? 0).toBeGreaterThanOrEqual(1);
            expect(table.acknowledged.get(key)).toBe(1);
            const last = table.requests.map((r, i) => (r.includes(key) ? i : -1)).filter((i) => i >= 0).pop()!;
            expect(table.requests.slice(last + 1).some((r) => r.includes(key))).toBe(false);
          }
        }
        // An item fails only after maxAttempts sends or a client error.
        const invalidSeen = script.some((s) => s.kind === 'invalid');
        if (!invalidSeen) {
          for (const item of result.failed) expect(table.requests.filter((r) => r.includes(keyOfItem(item))).length).toBe(maxAttempts);
        }
        // Requests: 1 to 25 distinct items; at most `concurrency` in flight; every request of a round
        // but its last is full (leftovers are coalesced); one backoff wait per round after the first.
        for (const r of table.requests) {
          expect(r.length).toBeGreaterThan(0);
          expect(r.length).toBeLessThanOrEqual(MAX_BATCH_WRITE);
          expect(new Set(r).size).toBe(r.length);
        }
        expect(table.mostInFlight).toBeLessThanOrEqual(concurrency);
        const rounds: number[][] = pending.length > 0 ? [[]] : [];
        for (const e of table.events) {
          if (e.type === 'sleep') rounds.push([]);
          else rounds[rounds.length - 1].push(e.size);
        }
        for (const round of rounds) {
          expect(round.length).toBeGreaterThan(0);
          expect(round.slice(0, -1).every((size) => size === MAX_BATCH_WRITE)).toBe(true);
        }
        if (pending.length > 0) expect(rounds[0]).toHaveLength(Math.ceil(pending.length / MAX_BATCH_WRITE));
        expect(result.calls).toBe(table.requests.length);
        expect(result.retries).toBe(Math.max(0, rounds.length - 1));
      }), { numRuns: 300 });
  });

  test('property: no call starts and no wait begins that could outlast the invocation', async () => {
    const budgets = fc.integer({ min: 0, max: 1_500 });
    await fc.assert(fc.asyncProperty(pendingItems, fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), budgets,
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      async (pending, script, concurrency, budget, jitter) => {
        let clock = 0;
        const margin = 200;
        const remainingMs = () => budget - clock;
        // Each call takes 40 ms of the invocation's time: a round of several requests can run into the margin.
        const table = new ScriptedTable(script, (violations) => {
          if (remainingMs() < margin) violations.push(`a call started with ${remainingMs()} ms left`);
          clock += 40;
        });
        const result = await writeItems({ send: table.send } as unknown as DynamoDBClient, TABLE, pending, {
          retry: { maxAttempts: 50, baseDelayMs: 20, maxDelayMs: 1_000 },
          concurrency,
          remainingMs,
          safetyMarginMs: margin,
          sleep: async (ms) => {
            expect(remainingMs() - ms).toBeGreaterThanOrEqual(margin);
            clock += ms;
          },
          random: () => jitter,
        });
        expect(table.violations).toEqual([]);
        for (const item of result.failed) expect(table.acknowledged.get(keyOfItem(item)) ?? 0).toBe(0);
        for (const item of pending) {
          if (!result.failed.includes(item)) expect(table.acknowledged.get(keyOfItem(item))).toBe(1);
        }
      }), { numRuns: 200 });
  });
});
