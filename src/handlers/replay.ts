import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ShardIteratorType } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/*
 * Replaying a batch that an event source mapping gave up on. The mapping's
 * on-failure destination receives the shard and the sequence range of the
 * batch, not its records; the records stay in the stream until its retention
 * ends. This module reads such a range back and invokes the function with it
 * the way the mapping does: the same event, the same batches, the same
 * handling of partial batch responses.
 */

/** The range of a batch that an event source mapping gave up on, from the record its on-failure destination received. */
export interface FailedBatch {
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  /** Records in the batch given up on. */
  readonly batchSize: number;
  /** As the record names it: the stream's ARN (or its consumer's, with enhanced fan-out). */
  readonly streamArn: string;
  readonly streamName: string;
  readonly region: string;
  /** Why the mapping gave up (`RetryAttemptsExhausted`, `RecordAgeExceeded`, ...), when the record says. */
  readonly condition?: string;
  /** The function the mapping invoked, when the record says. */
  readonly functionArn?: string;
}

export type ParsedMessage = { readonly ok: true; readonly batch: FailedBatch } | { readonly ok: false; readonly reason: string };

/** Kinesis's patterns for a shard id and a sequence number (API reference, `Shard` and `SequenceNumberRange`). */
const SHARD_ID = /^[a-zA-Z0-9_.-]{1,128}$/;
const SEQUENCE_NUMBER = /^(0|[1-9]\d{0,128})$/;
/** A stream's ARN, or its consumer's (`.../stream/<name>/consumer/<consumer>:<creation time>`). */
const STREAM_OR_CONSUMER_ARN = /^arn:([a-z0-9-]+):kinesis:([a-z0-9-]*):(\d{12}):stream\/([a-zA-Z0-9_.-]{1,128})(\/consumer\/.+)?$/;

/** The stream an ARN names (a stream's or a stream consumer's), or undefined for another ARN. */
export function parseStreamArn(arn: string): { readonly streamArn: string; readonly streamName: string; readonly region: string } | undefined {
  const m = STREAM_OR_CONSUMER_ARN.exec(arn);
  if (!m) return undefined;
  return { streamArn: `arn:${m[1]}:kinesis:${m[2]}:${m[3]}:stream/${m[4]}`, streamName: m[4], region: m[2] };
}

/** The function a name or a Lambda ARN (qualified or not) names. */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  return nameOrArn.startsWith('arn:') && parts.length >= 7 ? parts[6] : parts[0];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a message of a failed-batches queue. Two formats reach an SQS queue:
 * the invocation record Lambda sends to an SQS destination (`requestContext`,
 * `responseContext` when the function was invoked, `KinesisBatchInfo`), and
 * the same record as an SNS notification delivers it to a subscribed queue
 * (`"Type": "Notification"`, the record as text in `Message`). Anything else
 * is refused with the reason.
 */
export function parseFailureMessage(body: string): ParsedMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'the message is not JSON' };
  }
  if (isObject(doc) && doc.Type === 'Notification' && typeof doc.Message === 'string') {
    try {
      doc = JSON.parse(doc.Message);
    } catch {
      return { ok: false, reason: 'the SNS notification\'s Message is not JSON' };
    }
  }
  if (!isObject(doc)) return { ok: false, reason: 'the message is not a JSON object' };
  if (doc.DDBStreamBatchInfo !== undefined) return { ok: false, reason: 'the message is a DynamoDB stream\'s (DDBStreamBatchInfo), not a Kinesis stream\'s' };
  const info = doc.KinesisBatchInfo;
  if (!isObject(info)) return { ok: false, reason: 'the message has no KinesisBatchInfo object' };
  const { shardId, startSequenceNumber: start, endSequenceNumber: end, batchSize, streamArn } = info;
  if (typeof shardId !== 'string' || !SHARD_ID.test(shardId)) return { ok: false, reason: `KinesisBatchInfo.shardId ${JSON.stringify(shardId)} is not a shard id` };
  for (const [name, value] of [['startSequenceNumber', start], ['endSequenceNumber', end]] as const) {
    if (typeof value !== 'string' || !SEQUENCE_NUMBER.test(value)) return { ok: false, reason: `KinesisBatchInfo.${name} ${JSON.stringify(value)} is not a sequence number` };
  }
  if (compareSequenceNumbers(start as string, end as string) > 0) {
    return { ok: false, reason: `KinesisBatchInfo.startSequenceNumber ${start} is after endSequenceNumber ${end}` };
  }
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    return { ok: false, reason: `KinesisBatchInfo.batchSize ${JSON.stringify(batchSize)} is not a batch size (1 to 10,000)` };
  }
  const stream = typeof streamArn === 'string' ? parseStreamArn(streamArn) : undefined;
  if (!stream) return { ok: false, reason: `KinesisBatchInfo.streamArn ${JSON.stringify(streamArn)} is not a Kinesis stream ARN` };
  const context = isObject(doc.requestContext) ? doc.requestContext : {};
  return {
    ok: true,
    batch: {
      shardId,
      startSequenceNumber: start as string,
      endSequenceNumber: end as string,
      batchSize,
      streamArn: streamArn as string,
      streamName: stream.streamName,
      region: stream.region,
      condition: typeof context.condition === 'string' ? context.condition : undefined,
      functionArn: typeof context.functionArn === 'string' ? context.functionArn : undefined,
    },
  };
}

/** Orders two sequence numbers of one shard (decimal strings of up to 129 digits). */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A record as GetRecords returns it. */
export interface StreamRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Epoch milliseconds. */
  readonly approximateArrivalTimestamp: number;
}

/** What Lambda puts in each record of the event besides the record itself. */
export interface EventSource {
  readonly shardId: string;
  /** The ARN Lambda names as the record's source, as the on-failure record gives it. */
  readonly eventSourceArn: string;
  readonly region: string;
  readonly invokeIdentityArn: string;
}

/** A record in the shape Lambda passes it to the function (the Kinesis event of the Lambda developer guide). */
export function toEventRecord(record: StreamRecord, source: EventSource): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.approximateArrivalTimestamp / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${source.shardId}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: source.invokeIdentityArn,
    awsRegion: source.region,
    eventSourceARN: source.eventSourceArn,
  };
}

/**
 * Lambda's limit on the payload of a synchronous invocation, 6 MB: an event
 * source mapping ends a batch before it would pass it, and so does the replay.
 */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** `{"Records":[]}` */
const EVENT_ENVELOPE_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] }));

/** The size of a record in the event's JSON. */
export function eventRecordBytes(record: KinesisStreamRecord): number {
  return Buffer.byteLength(JSON.stringify(record));
}

/**
 * How many records from the front of `records` make the next batch: at most
 * `batchSize`, and no more than fit one invocation's payload. A record too
 * large to fit alone still makes a batch of its own, which Lambda refuses
 * with its reason.
 */
export function nextBatchLength(records: readonly KinesisStreamRecord[], batchSize: number, maxBytes = MAX_INVOKE_PAYLOAD_BYTES): number {
  let bytes = EVENT_ENVELOPE_BYTES;
  let n = 0;
  while (n < records.length && n < batchSize) {
    const size = eventRecordBytes(records[n]) + (n > 0 ? 1 : 0);
    if (n > 0 && bytes + size > maxBytes) break;
    bytes += size;
    n++;
  }
  return n;
}

/** The records split into the batches an event source mapping with this batch size would make. */
export function splitIntoBatches(
  records: readonly KinesisStreamRecord[],
  batchSize: number,
  maxBytes = MAX_INVOKE_PAYLOAD_BYTES,
): KinesisStreamRecord[][] {
  const batches: KinesisStreamRecord[][] = [];
  for (let i = 0; i < records.length;) {
    const n = nextBatchLength(records.slice(i, i + batchSize), batchSize, maxBytes);
    batches.push(records.slice(i, i + n));
    i += n;
  }
  return batches;
}

/** What the function answered to one invocation. */
export interface InvokeResponse {
  /** Lambda's `FunctionError` (`Unhandled`), when the invocation failed. */
  readonly functionError?: string;
  /** The function's JSON response, or its error document. */
  readonly payload: string;
}

export type Outcome =
  | { readonly kind: 'done' }
  /** The records from `index` on are to be retried. */
  | { readonly kind: 'partial'; readonly index: number }
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * Reads a response as an event source mapping does (Lambda developer guide,
 * "partial batch response"): no `batchItemFailures`, or an empty list, is a
 * success; a list checkpoints at the lowest reported sequence number; an
 * item without a sequence number of the batch fails the whole batch, and so
 * does a function error. Without ReportBatchItemFailures, the mapping ignores
 * the response.
 */
export function interpretResponse(batch: readonly KinesisStreamRecord[], response: InvokeResponse, reportBatchItemFailures: boolean): Outcome {
  if (response.functionError) return { kind: 'failed', reason: `function error: ${describeError(response.payload)}` };
  if (!reportBatchItemFailures) return { kind: 'done' };
  let body: unknown;
  try {
    body = response.payload.trim() === '' ? null : JSON.parse(response.payload);
  } catch {
    return { kind: 'failed', reason: 'the response is not JSON' };
  }
  const failures = isObject(body) ? body.batchItemFailures : undefined;
  if (failures === undefined || failures === null) return { kind: 'done' };
  if (!Array.isArray(failures)) return { kind: 'failed', reason: 'batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'done' };
  let lowest: string | undefined;
  for (const f of failures) {
    const id = isObject(f) ? f.itemIdentifier : undefined;
    if (typeof id !== 'string' || !SEQUENCE_NUMBER.test(id)) return { kind: 'failed', reason: `batchItemFailures names ${JSON.stringify(id ?? null)}, not a sequence number` };
    if (lowest === undefined || compareSequenceNumbers(id, lowest) < 0) lowest = id;
  }
  const index = batch.findIndex((r) => r.kinesis.sequenceNumber === lowest);
  if (index < 0) return { kind: 'failed', reason: `batchItemFailures names ${lowest}, which is not in the batch` };
  return { kind: 'partial', index };
}

function describeError(payload: string): string {
  try {
    const doc = JSON.parse(payload) as { errorType?: unknown; errorMessage?: unknown };
    if (isObject(doc) && (doc.errorType !== undefined || doc.errorMessage !== undefined)) return `${String(doc.errorType ?? 'Error')}: ${String(doc.errorMessage ?? '')}`;
  } catch {
    // Not a Lambda error document: show it as it is.
  }
  return payload.slice(0, 500);
}

/**
 * Invocations of one batch at one checkpoint before the replay gives up on
 * the range: three, with 1 and 2 seconds between them. A batch that fails
 * three times in a row fails for a lasting reason more often than not, and
 * the message stays in the queue for a later replay.
 */
export const MAX_ATTEMPTS = 3;

export function retryDelayMs(attempt: number): number {
  return 1_000 * 2 ** (attempt - 1);
}

export interface ReplayDeps {
  readonly kinesis: KinesisClient;
  /** The mapping's batch size. */
  readonly batchSize: number;
  readonly reportBatchItemFailures: boolean;
  readonly invokeIdentityArn: string;
  /** No invocation is started with less time than this left: the function's timeout, at most. */
  readonly invocationReserveMs: number;
  readonly maxAttempts?: number;
  readonly maxPayloadBytes?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  invoke(event: KinesisStreamEvent): Promise<InvokeResponse>;
  /** Milliseconds left in this run. */
  timeLeft(): number;
}

/** What replaying one range came to. `records` were finished by the function (not reported as failed). */
export type RangeResult =
  | { readonly kind: 'done'; readonly records: number; readonly invocations: number }
  /** Part or all of the range is no longer in the stream; what was left of it was replayed. */
  | { readonly kind: 'trimmed'; readonly records: number; readonly invocations: number; readonly reason: string; readonly firstAvailable?: string }
  | { readonly kind: 'unreadable'; readonly records: number; readonly invocations: number; readonly reason: string }
  | { readonly kind: 'failed'; readonly records: number; readonly invocations: number; readonly reason: string; readonly at: string }
  | { readonly kind: 'out of time'; readonly records: number; readonly invocations: number; readonly at?: string };

class RangeGone extends Error {}

/**
 * Reads one range of one shard in order, from its first sequence number to
 * its last, a GetRecords call at a time. It notices when the range's start is
 * no longer in the stream: the first record read is a later one, or there is
 * none at all.
 */
export class RangeReader {
  /** Set once the first record read turned out to be later than the range's start. */
  firstAvailable?: string;
  private iterator?: string;
  private last?: string;
  private started = false;
  private finished = false;

  constructor(private readonly kinesis: KinesisClient, private readonly range: FailedBatch, private readonly limit: number) {}

  get done(): boolean {
    return this.finished;
  }

  /** The next records of the range (possibly none); `done` once the last is read. Throws `RangeGone` when the range is gone. */
  async read(): Promise<StreamRecord[]> {
    if (this.finished) return [];
    if (!this.iterator) {
      const out = await this.kinesis.send(new GetShardIteratorCommand({
        StreamName: this.range.streamName,
        ShardId: this.range.shardId,
        ...(this.last
          ? { ShardIteratorType: ShardIteratorType.AFTER_SEQUENCE_NUMBER, StartingSequenceNumber: this.last }
          : { ShardIteratorType: ShardIteratorType.AT_SEQUENCE_NUMBER, StartingSequenceNumber: this.range.startSequenceNumber }),
      }));
      this.iterator = out.ShardIterator;
      if (!this.iterator) throw new Error('GetShardIterator answered no iterator');
    }
    let out;
    try {
      out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: this.limit }));
    } catch (err) {
      // An iterator lives 5 minutes; the function may take longer than that between two reads.
      if ((err as Error).name === 'ExpiredIteratorException') {
        this.iterator = undefined;
        return [];
      }
      throw err;
    }
    const records: StreamRecord[] = [];
    for (const r of out.Records ?? []) {
      const seq = r.SequenceNumber!;
      if (!this.started) {
        this.started = true;
        if (seq !== this.range.startSequenceNumber) {
          if (compareSequenceNumbers(seq, this.range.endSequenceNumber) > 0) {
            throw new RangeGone(`the range is no longer in the stream (its oldest record now is ${seq})`);
          }
          this.firstAvailable = seq;
        }
      }
      if (compareSequenceNumbers(seq, this.range.endSequenceNumber) > 0) {
        this.finished = true;
        break;
      }
      records.push({
        sequenceNumber: seq,
        partitionKey: r.PartitionKey!,
        data: r.Data ?? new Uint8Array(),
        approximateArrivalTimestamp: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
      });
      this.last = seq;
      if (seq === this.range.endSequenceNumber) {
        this.finished = true;
        break;
      }
    }
    if (this.finished) return records;
    if ((out.Records ?? []).length === 0 && out.MillisBehindLatest === 0) {
      if (!this.started) throw new RangeGone('the range is no longer in the stream (nothing is left from its start on)');
      throw new Error(`the shard holds nothing after ${this.last} up to its newest record: the range's last record ${this.range.endSequenceNumber} was not found`);
    }
    if (!out.NextShardIterator) {
      if (!this.started) throw new RangeGone('the range is no longer in the stream (the shard was read to its end)');
      throw new Error(`the shard ends after ${this.last}, before the range's last record ${this.range.endSequenceNumber}`);
    }
    this.iterator = out.NextShardIterator;
    return records;
  }
}

/**
 * Replays one range: reads it from the stream and invokes the function with
 * it in the batches the event source mapping would make, honouring each
 * partial batch response (the records from the reported one on are invoked
 * again) and retrying a failed batch up to `maxAttempts` times at one
 * checkpoint. `done` only when every record of the range was finished by the
 * function.
 */
export async function replayRange(range: FailedBatch, deps: ReplayDeps): Promise<RangeResult> {
  const maxAttempts = deps.maxAttempts ?? MAX_ATTEMPTS;
  const maxBytes = deps.maxPayloadBytes ?? MAX_INVOKE_PAYLOAD_BYTES;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const source: EventSource = {
    shardId: range.shardId,
    eventSourceArn: range.streamArn,
    region: range.region,
    invokeIdentityArn: deps.invokeIdentityArn,
  };
  // One GetRecords call reads at most 10,000 records; the range is about one batch.
  const reader = new RangeReader(deps.kinesis, range, Math.min(10_000, Math.max(deps.batchSize, range.batchSize)));
  let records = 0;
  let invocations = 0;
  const buffer: KinesisStreamRecord[] = [];
  const trimmed = () => (reader.firstAvailable
    ? { kind: 'trimmed' as const, records, invocations, firstAvailable: reader.firstAvailable, reason: `the range's first records are no longer in the stream: it now starts at ${reader.firstAvailable}` }
    : undefined);

  for (;;) {
    while (!reader.done && buffer.length < deps.batchSize) {
      if (deps.timeLeft() < deps.invocationReserveMs) {
        return { kind: 'out of time', records, invocations, at: buffer[0]?.kinesis.sequenceNumber ?? (records === 0 ? range.startSequenceNumber : undefined) };
      }
      try {
        for (const r of await reader.read()) buffer.push(toEventRecord(r, source));
      } catch (err) {
        if (err instanceof RangeGone) return { kind: 'trimmed', records, invocations, reason: err.message };
        const name = (err as Error).name;
        // The shard (or the stream) no longer exists: after a reshard, a closed shard is deleted once its retention ends.
        if (name === 'ResourceNotFoundException') return { kind: 'trimmed', records, invocations, reason: `the shard is no longer in the stream: ${(err as Error).message}` };
        return { kind: 'unreadable', records, invocations, reason: `${name}: ${(err as Error).message}` };
      }
    }
    if (buffer.length === 0) return trimmed() ?? { kind: 'done', records, invocations };

    let batch = buffer.splice(0, nextBatchLength(buffer, deps.batchSize, maxBytes));
    let attempts = 0;
    while (batch.length > 0) {
      if (deps.timeLeft() < deps.invocationReserveMs) return { kind: 'out of time', records, invocations, at: batch[0].kinesis.sequenceNumber };
      attempts++;
      invocations++;
      let outcome: Outcome;
      try {
        outcome = interpretResponse(batch, await deps.invoke({ Records: batch }), deps.reportBatchItemFailures);
      } catch (err) {
        if (deps.timeLeft() < deps.invocationReserveMs) return { kind: 'out of time', records, invocations, at: batch[0].kinesis.sequenceNumber };
        outcome = { kind: 'failed', reason: `the invocation failed: ${(err as Error).name}: ${(err as Error).message}` };
      }
      if (outcome.kind === 'done') {
        records += batch.length;
        break;
      }
      if (outcome.kind === 'partial') {
        records += outcome.index;
        batch = batch.slice(outcome.index);
        // A later checkpoint starts the count again, as it does for the mapping.
        if (outcome.index > 0) attempts = 0;
      }
      if (attempts >= maxAttempts) {
        const reason = outcome.kind === 'failed' ? outcome.reason : `the function reported ${batch[0].kinesis.sequenceNumber} as failed`;
        return { kind: 'failed', records, invocations, reason: `${reason} (${maxAttempts} attempts)`, at: batch[0].kinesis.sequenceNumber };
      }
      if (attempts > 0) await sleep(retryDelayMs(attempts));
    }
  }
}
