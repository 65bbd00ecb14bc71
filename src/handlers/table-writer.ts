import { AttributeValue, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { batchWriter } from './batch-write';
import { Reading } from './reading';
import { TTL_ATTRIBUTE } from './table-layout';
import { defaultOf, PROCESSOR_SETTINGS, WRITER_RESERVE_MS } from '../private/handler-contract';

/** BatchWriteItem takes at most 25 put requests. */
export const MAX_BATCH_WRITE = 25;

/** A reading to store, with the indexes of the batch records it came from. */
export interface PendingItem {
  readonly reading: Reading;
  readonly sources: number[];
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function keyOf(r: Reading): string {
  return `${r.sensorId}\u0000${r.timestamp}`;
}

/**
 * Collapses readings with the same table key (sensor id and timestamp) to the
 * last one, as sequential puts would: BatchWriteItem rejects a request that
 * holds one key twice, and the table keeps one row per key anyway.
 */
export function dedupeByKey(readings: ReadonlyArray<{ reading: Reading; source: number }>): PendingItem[] {
  const byKey = new Map<string, { reading: Reading; sources: number[] }>();
  for (const { reading, source } of readings) {
    const key = keyOf(reading);
    const seen = byKey.get(key);
    if (seen) {
      seen.reading = reading;
      seen.sources.push(source);
    } else {
      byKey.set(key, { reading, sources: [source] });
    }
  }
  return [...byKey.values()];
}

/**
 * A reading's item in the per-reading layout. With a retention, the item
 * carries the TTL attribute: the reading's time plus the retention, in epoch
 * seconds.
 */
export function toPutRequest(r: Reading, retentionSeconds = 0): WriteRequest {
  const item: Record<string, AttributeValue> = {
    SensorId: { S: r.sensorId },
    Timestamp: { S: r.timestamp },
    Value: { N: String(r.value) },
  };
  if (retentionSeconds > 0) item[TTL_ATTRIBUTE] = { N: String(Math.ceil(Date.parse(r.timestamp) / 1000) + retentionSeconds) };
  return { PutRequest: { Item: item } };
}

export interface RetryPolicy {
  /** Times one item is sent, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000 };

/**
 * BatchWriteItem requests in flight at once, by default. The default batch of
 * 500 records is 20 requests: at 20 they all go at once, one round trip
 * instead of 20 in a row. Measured (`npm run bench`, five runs), 16 and 20
 * keep up best at 512 and 1,024 MB; 10, with a second round trip per batch,
 * leaves 4 to 40 % of the throughput behind; 2 and 4 leave about half of it.
 */
export const DEFAULT_WRITE_CONCURRENCY = defaultOf(PROCESSOR_SETTINGS.writeConcurrency);

/** The most requests in flight a writer accepts: the SDK's HTTP agent keeps 50 sockets per host. */
export const MAX_WRITE_CONCURRENCY = 50;

/** "Full jitter" exponential backoff: a uniform delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export interface WriteOptions {
  readonly retry?: RetryPolicy;
  /** BatchWriteItem requests in flight at once, 1 to 50. Default `DEFAULT_WRITE_CONCURRENCY`. */
  readonly concurrency?: number;
  /** Milliseconds left before the invocation must return; no call or retry is started that would pass it. */
  readonly remainingMs?: () => number;
  /**
   * Kept free at the end of the invocation: one request's timeout, then the
   * dead letters, the metric and the answer. Default `WRITER_RESERVE_MS`, 4 s
   * (the client's request timeout is 3 s).
   */
  readonly safetyMarginMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Seconds each item is kept after its reading's time (the TTL attribute); 0, the default, for ever. */
  readonly retentionSeconds?: number;
}

export interface WriteResult {
  /** Items still not written after every retry that fit, in the order they were given. */
  readonly failed: PendingItem[];
  readonly calls: number;
  /** Backoff waits: one per round of retries, shared by every item of the round. */
  readonly retries: number;
  readonly lastError?: string;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** An item on its way to the table. */
interface Entry {
  readonly item: PendingItem;
  readonly key: string;
  /** Times sent so far. */
  attempts: number;
  state: 'pending' | 'written' | 'failed';
}

/** Validates a concurrency setting, naming it as the caller knows it. */
export function validateConcurrency(value: number, name = 'concurrency'): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_WRITE_CONCURRENCY) {
    throw new Error(`${name} must be an integer from 1 to ${MAX_WRITE_CONCURRENCY}, got ${value}`);
  }
  return value;
}

/**
 * Writes the items in requests of 25, up to `concurrency` at a time, in rounds.
 * The first round sends every item. What comes back (UnprocessedItems, or the
 * items of a request that failed with throttling, a 5xx or a network error)
 * goes into one queue in record order, and the next round sends it again in
 * full requests of 25, after one backoff wait (full jitter) shared by the
 * whole batch, not one per request.
 *
 * The backoff grows only while nothing gets through. While the table accepts
 * part of what is sent (a table at its capacity), the wait stays short and a
 * round offers about twice what the previous round got written, so the writer
 * follows the table's rate without flooding it with requests that would come
 * back whole.
 *
 * No call or wait is started that could outlast the invocation, and an item
 * is sent at most `retry.maxAttempts` times. What is still unwritten comes
 * back in `failed`, so that the caller reports it as a partial batch failure
 * instead of dropping it. A request that fails with a client error (4xx other
 * than throttling) is not sent again: its items fail at once.
 */
export async function writeItems(
  client: DynamoDBClient,
  tableName: string,
  items: readonly PendingItem[],
  options: WriteOptions = {},
): Promise<WriteResult> {
  const policy = options.retry ?? DEFAULT_RETRY;
  const concurrency = validateConcurrency(options.concurrency ?? DEFAULT_WRITE_CONCURRENCY);
  const sleep = options.sleep ?? sleepFor;
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const margin = options.safetyMarginMs ?? WRITER_RESERVE_MS;
  const entries: Entry[] = items.map((item) => ({ item, key: keyOf(item.reading), attempts: 0, state: 'pending' }));
  let calls = 0;
  let retries = 0;
  let lastError: string | undefined;
  const batchWrite = batchWriter(client);

  const send = async (batch: readonly Entry[]): Promise<number> => {
    calls++;
    for (const e of batch) e.attempts++;
    try {
      // Each request's items are made as it is sent, not all of the batch's up front: a batch of
      // many readings would otherwise keep them all alive, and the garbage collector busy, until its end.
      const out = await batchWrite(tableName, batch.map((e) => toPutRequest(e.item.reading, options.retentionSeconds)));
      const unprocessed = out.UnprocessedItems?.[tableName];
      const left = new Set<string>();
      for (const request of unprocessed ?? []) {
        const item = request.PutRequest?.Item;
        left.add(`${item?.SensorId?.S}\u0000${item?.Timestamp?.S}`);
      }
      let written = 0;
      for (const e of batch) {
        if (left.has(e.key)) continue;
        e.state = 'written';
        written++;
      }
      return written;
    } catch (err) {
      lastError = errorName(err);
      if (!isRetryable(err)) for (const e of batch) e.state = 'failed';
      return 0;
    }
  };

  let pending = entries;
  // Items a round offers: everything at first, then about twice what the last round wrote.
  let window = Number.POSITIVE_INFINITY;
  let level = 0;
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) {
      const delay = backoffDelay(level, policy, options.random);
      if (remaining() - delay < margin) break;
      retries++;
      await sleep(delay);
    }
    const requests = chunk(pending.slice(0, window), MAX_BATCH_WRITE);
    let next = 0;
    let written = 0;
    let outOfTime = false;
    const worker = async () => {
      while (next < requests.length && !outOfTime) {
        // No call is started that could outlast the invocation: what is left
        // is reported as failed and comes again with the retried batch.
        if (remaining() < margin) {
          outOfTime = true;
          break;
        }
        const got = await send(requests[next++]);
        written += got;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
    for (const e of pending) if (e.state === 'pending' && e.attempts >= policy.maxAttempts) e.state = 'failed';
    pending = pending.filter((e) => e.state === 'pending');
    if (outOfTime) break;
    level = written > 0 ? 1 : level + 1;
    window = written > 0 ? Math.max(MAX_BATCH_WRITE, Math.ceil((2 * written) / MAX_BATCH_WRITE) * MAX_BATCH_WRITE) : MAX_BATCH_WRITE;
  }
  const failed = entries.filter((e) => e.state !== 'written').map((e) => e.item);
  return { failed, calls, retries, lastError };
}

function errorName(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
}

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);

/** Throttling, server-side (5xx) and network errors are worth another try; a validation error is not. */
export function isRetryable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e?.name && RETRYABLE.has(e.name)) return true;
  if (e?.$retryable) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no response at all: a network fault
  return status >= 500;
}
