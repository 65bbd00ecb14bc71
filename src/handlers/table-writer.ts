import { BatchWriteItemCommand, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { Reading } from './reading';

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

export function toPutRequest(r: Reading): WriteRequest {
  return {
    PutRequest: {
      Item: {
        SensorId: { S: r.sensorId },
        Timestamp: { S: r.timestamp },
        Value: { N: String(r.value) },
      },
    },
  };
}

export interface RetryPolicy {
  /** Attempts per chunk, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000 };

/** "Full jitter" exponential backoff: a uniform delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export interface WriteOptions {
  readonly retry?: RetryPolicy;
  /** Milliseconds left before the invocation must return; no retry is started that would pass it. */
  readonly remainingMs?: () => number;
  /**
   * Kept free at the end of the invocation: one request's timeout plus time to
   * report failures. Default 4 s (the client's request timeout is 3 s).
   */
  readonly safetyMarginMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface WriteResult {
  /** Items still not written after every retry that fit. */
  readonly failed: PendingItem[];
  readonly calls: number;
  readonly retries: number;
  readonly lastError?: string;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes the items in chunks of 25. UnprocessedItems and throttling or service
 * errors are retried with backoff and jitter while time remains; what is still
 * unwritten comes back in `failed` so that the caller reports it as a partial
 * batch failure instead of dropping it.
 */
export async function writeItems(
  client: DynamoDBClient,
  tableName: string,
  items: readonly PendingItem[],
  options: WriteOptions = {},
): Promise<WriteResult> {
  const policy = options.retry ?? DEFAULT_RETRY;
  const sleep = options.sleep ?? sleepFor;
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const margin = options.safetyMarginMs ?? 4_000;
  const failed: PendingItem[] = [];
  let calls = 0;
  let retries = 0;
  let lastError: string | undefined;

  for (const group of chunk(items, MAX_BATCH_WRITE)) {
    let pending = new Map<string, PendingItem>(group.map((item) => [keyOf(item.reading), item]));
    for (let attempt = 0; pending.size > 0; attempt++) {
      // No call is started that could outlast the invocation: what is left is
      // reported as failed and comes again with the retried batch.
      const delay = attempt > 0 ? backoffDelay(attempt, policy, options.random) : 0;
      if (attempt >= policy.maxAttempts || remaining() - delay < margin) break;
      if (attempt > 0) {
        retries++;
        await sleep(delay);
      }
      calls++;
      try {
        const out = await client.send(new BatchWriteItemCommand({
          RequestItems: { [tableName]: [...pending.values()].map((item) => toPutRequest(item.reading)) },
        }));
        const unprocessed = out.UnprocessedItems?.[tableName] ?? [];
        const next = new Map<string, PendingItem>();
        for (const request of unprocessed) {
          const item = request.PutRequest?.Item;
          const key = `${item?.SensorId?.S}\u0000${item?.Timestamp?.S}`;
          const original = pending.get(key);
          if (original) next.set(key, original);
        }
        pending = next;
      } catch (err) {
        lastError = errorName(err);
        if (!isRetryable(err)) break;
      }
    }
    failed.push(...pending.values());
  }
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
