/**
 * A local Kinesis event source mapping: polls each shard of the stream and
 * invokes the function with the mapping's settings, as Lambda does:
 *
 * - StartingPosition (TRIM_HORIZON, LATEST, AT_TIMESTAMP) for the shards there
 *   when the mapping starts, then a checkpoint; a shard that appears later (the
 *   child of a split or a merge) is read from its start (TRIM_HORIZON) once its
 *   parents are done, as Lambda does, so that a reshard loses no record;
 * - BatchSize, MaximumBatchingWindowInSeconds, and Lambda's 6 MB payload limit;
 * - ParallelizationFactor: up to N batches of a shard at once, records of one
 *   partition key always in order, in one lane;
 * - ReportBatchItemFailures: a partial failure checkpoints at the lowest
 *   reported sequence number and retries from there; a malformed answer
 *   (empty or unknown itemIdentifier) fails the whole batch;
 * - function errors (thrown, timed out, crashed) retry the whole batch, split
 *   in two first when BisectBatchOnFunctionError is on (a split uses no retry);
 * - MaximumRetryAttempts and MaximumRecordAgeInSeconds, after which the
 *   records are skipped and the on-failure destination gets the invocation
 *   record Lambda sends (condition, KinesisBatchInfo), without the data.
 *
 * Lambda polls an idle shard once a second; after a batch it polls again at
 * once. Between retries it waits a little (100 ms, doubling to 2 s) so that a
 * failing function does not spin.
 */
import { createHash } from 'crypto';
import { ExpiredIteratorException, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, Shard, ShardIteratorType } from '@aws-sdk/client-kinesis';
import { toLambdaRecord } from '../lambda-events';
import { StreamRecord } from '../shard-reader';
import { InvokeResult } from './lambda-runtime';

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';

export interface MappingSpec {
  /** `Stack/LogicalId`, for messages. */
  readonly path: string;
  readonly uuid: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly streamName: string;
  readonly streamArn: string;
  readonly region: string;
  readonly invokeIdentityArn: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly startingPosition: StartingPosition;
  /** Epoch milliseconds, for AT_TIMESTAMP. */
  readonly startingTimestamp?: number;
  readonly reportBatchItemFailures: boolean;
  /** -1: until the records expire. */
  readonly maximumRetryAttempts: number;
  /** -1: no limit. */
  readonly maximumRecordAgeSeconds: number;
  readonly bisectOnError: boolean;
  readonly parallelizationFactor: number;
  /** The on-failure destination (an SQS queue ARN). */
  readonly onFailureArn?: string;
}

export interface CheckpointStore {
  get(mappingUuid: string, shardId: string): string | undefined;
  set(mappingUuid: string, shardId: string, sequenceNumber: string): void;
}

export interface MappingDeps {
  readonly kinesis: KinesisClient;
  readonly checkpoints: CheckpointStore;
  /** How often an idle shard is polled (Lambda: once a second). */
  readonly pollIntervalMs: number;
  /** How often the stream's shards are listed, to find the children of a reshard. Default 10 s. */
  readonly shardDiscoveryIntervalMs?: number;
  invoke(payload: string): Promise<InvokeResult>;
  sendToDestination(arn: string, message: string): Promise<void>;
  /** Something went wrong that the user should see (the destination failed, a response was malformed). */
  warn(message: string): void;
}

export interface MappingStats {
  /** GetRecords calls. */
  polls: number;
  recordsRead: number;
  /** Records finished: processed, or skipped to the destination. */
  recordsDone: number;
  /** Records skipped after retries or age, reported to the destination. */
  recordsDiscarded: number;
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  /** Invocations that re-sent records (whole-batch or partial retries). */
  retries: number;
  bisections: number;
  destinationMessages: number;
  /** Lambda's IteratorAge: at the last invocation, the age of the batch's last record. */
  iteratorAgeMs: number;
  /** Behind the tip of the stream at the last GetRecords, the largest of the shards. */
  millisBehindLatest: number;
}

/** Lambda's limit on a synchronous invocation's payload. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Fields of a Kinesis record in the event besides its data, in bytes, give or take. */
const RECORD_OVERHEAD_BYTES = 400;

interface PendingRecord {
  readonly ordinal: number;
  readonly record: StreamRecord;
  readonly size: number;
  readonly readAt: number;
  invokes: number;
}

interface WorkItem {
  records: PendingRecord[];
  retries: number;
}

export class EventSourceMappingPoller {
  readonly stats: MappingStats = {
    polls: 0,
    recordsRead: 0,
    recordsDone: 0,
    recordsDiscarded: 0,
    invocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisections: 0,
    destinationMessages: 0,
    iteratorAgeMs: 0,
    millisBehindLatest: 0,
  };
  /**
   * While true, a batch is invoked as soon as it is read: the batching window
   * is cut short (a test waiting for every mapping to be idle need not wait
   * out a window of a minute).
   */
  flushing = false;
  private readonly workers = new Map<string, ShardWorker>();
  private stopped = false;
  private discovery?: Promise<void>;
  private readonly sleepers = new Set<() => void>();
  /** Woken only when the mapping stops: new records do not hurry the next ListShards. */
  private readonly stopWaiters = new Set<() => void>();

  constructor(readonly spec: MappingSpec, private readonly deps: MappingDeps) {}

  /** Records read and not yet finished, over all shards. */
  get pendingRecords(): number {
    return this.stats.recordsRead - this.stats.recordsDone;
  }

  start(): void {
    this.discovery = this.discover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeAll();
    for (const wake of [...this.stopWaiters]) wake();
    for (const w of this.workers.values()) w.stop();
    await this.discovery;
    await Promise.all([...this.workers.values()].map((w) => w.done));
  }

  /** Sleeps, or less when the mapping stops or is woken. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get dependencies(): MappingDeps {
    return this.deps;
  }

  /**
   * Finds the stream's shards now and every 10 s, and starts a worker per
   * shard, a child after its parents. StartingPosition applies to the shards
   * of the first listing; a shard found later was created while the mapping
   * ran, so all of its records are new to the mapping: it is read from its
   * start, and so is a child whose parent has a checkpoint (a mapping resumed
   * from its checkpoints after a reshard).
   */
  private async discover(): Promise<void> {
    let firstListing = true;
    while (!this.stopped) {
      try {
        const shards: Shard[] = [];
        let token: string | undefined;
        do {
          const out = await this.deps.kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.spec.streamName }));
          shards.push(...(out.Shards ?? []));
          token = out.NextToken;
        } while (token);
        const byId = new Map(shards.map((s) => [s.ShardId!, s]));
        const parentsOf = (shard: Shard) => [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => !!p);
        const add = (shard: Shard): ShardWorker => {
          const id = shard.ShardId!;
          const existing = this.workers.get(id);
          if (existing) return existing;
          const parentIds = parentsOf(shard);
          // Parents still in the stream are started first, whatever order ListShards answers in.
          const parents = parentIds.filter((p) => byId.has(p)).map((p) => add(byId.get(p)!));
          const resumed = parentIds.some((p) => this.deps.checkpoints.get(this.spec.uuid, p) !== undefined);
          const worker = new ShardWorker(this, id, parents, !firstListing || resumed);
          this.workers.set(id, worker);
          worker.start();
          return worker;
        };
        for (const shard of shards) add(shard);
        firstListing = false;
      } catch (err) {
        if (!this.stopped) this.deps.warn(`${this.spec.path}: ListShards failed: ${(err as Error).message}`);
      }
      await this.untilStopped(this.deps.shardDiscoveryIntervalMs ?? 10_000);
    }
  }

  private untilStopped(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.stopWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.stopWaiters.add(wake);
    });
  }
}

class ShardWorker {
  done: Promise<void> = Promise.resolve();
  private readonly lanes: PendingRecord[][];
  private nextOrdinal = 0;
  private doneUpTo = -1;
  private readonly finished = new Set<number>();
  private readonly sequenceByOrdinal = new Map<number, string>();
  private closed = false;
  private lastRead?: string;
  /** AT_TIMESTAMP: records that arrived before this are skipped, until the first that did not. */
  private skipBefore?: number;

  constructor(
    private readonly mapping: EventSourceMappingPoller,
    readonly shardId: string,
    private readonly parents: ShardWorker[],
    /** Read from the start of the shard when it has no checkpoint, whatever the StartingPosition. */
    private readonly fromStart: boolean,
  ) {
    this.lanes = Array.from({ length: mapping.spec.parallelizationFactor }, () => []);
  }

  private get spec(): MappingSpec {
    return this.mapping.spec;
  }

  private get deps(): MappingDeps {
    return this.mapping.dependencies;
  }

  start(): void {
    this.done = (async () => {
      // Records of a child shard wait until its parents are fully processed, as Lambda keeps order across a reshard.
      await Promise.all(this.parents.map((p) => p.done));
      await Promise.all([this.read(), ...this.lanes.map((_, i) => this.runLane(i))]);
    })();
  }

  stop(): void {
    this.closed = true;
  }

  private get buffered(): number {
    return this.lanes.reduce((n, l) => n + l.length, 0);
  }

  private async iterator(): Promise<string | undefined> {
    const checkpoint = this.lastRead ?? this.deps.checkpoints.get(this.spec.uuid, this.shardId);
    const position = this.fromStart ? 'TRIM_HORIZON' : this.spec.startingPosition;
    if (!checkpoint && position === 'AT_TIMESTAMP') {
      // kinesalite never answers an AT_TIMESTAMP GetShardIterator when no record
      // arrived at or after the timestamp: read from the start and skip what is older.
      this.skipBefore = this.spec.startingTimestamp ?? 0;
    }
    const input = checkpoint
      ? { ShardIteratorType: ShardIteratorType.AFTER_SEQUENCE_NUMBER, StartingSequenceNumber: checkpoint }
      : { ShardIteratorType: position === 'AT_TIMESTAMP' ? ShardIteratorType.TRIM_HORIZON : position as ShardIteratorType };
    const out = await this.deps.kinesis.send(new GetShardIteratorCommand({ StreamName: this.spec.streamName, ShardId: this.shardId, ...input }));
    return out.ShardIterator;
  }

  private async read(): Promise<void> {
    const highWater = Math.max(1_000, this.spec.batchSize * this.spec.parallelizationFactor * 2);
    let iterator: string | undefined;
    while (!this.mapping.isStopped) {
      try {
        iterator ??= await this.iterator();
        if (!iterator) break;
        if (this.buffered >= highWater) {
          await this.mapping.sleep(50);
          continue;
        }
        const out = await this.deps.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        this.mapping.stats.polls++;
        let records = out.Records ?? [];
        if (this.skipBefore !== undefined) {
          const first = records.findIndex((r) => r.ApproximateArrivalTimestamp!.getTime() >= this.skipBefore!);
          if (first !== 0 && records.length) this.lastRead = records[(first < 0 ? records.length : first) - 1].SequenceNumber;
          if (first >= 0) this.skipBefore = undefined;
          records = first < 0 ? [] : records.slice(first);
        }
        const now = Date.now();
        for (const r of records) {
          const record: StreamRecord = {
            sequenceNumber: r.SequenceNumber!,
            partitionKey: r.PartitionKey!,
            data: r.Data!,
            approximateArrivalTimestamp: r.ApproximateArrivalTimestamp!.getTime(),
          };
          const ordinal = this.nextOrdinal++;
          this.sequenceByOrdinal.set(ordinal, record.sequenceNumber);
          const lane = this.lanes.length === 1 ? 0 : laneOf(record.partitionKey, this.lanes.length);
          this.lanes[lane].push({ ordinal, record, size: Math.ceil(record.data.length / 3) * 4 + RECORD_OVERHEAD_BYTES, readAt: now, invokes: 0 });
          this.lastRead = record.sequenceNumber;
        }
        this.mapping.stats.recordsRead += records.length;
        this.mapping.stats.millisBehindLatest = out.MillisBehindLatest ?? 0;
        if (records.length) this.mapping.wakeAll();
        iterator = out.NextShardIterator;
        if (!iterator) break; // the shard is closed (resharded) and read to its end
        if ((out.Records ?? []).length === 0) await this.mapping.sleep(this.deps.pollIntervalMs);
        else if (!out.MillisBehindLatest) await this.untilIdle(this.deps.pollIntervalMs);
      } catch (err) {
        if (err instanceof ExpiredIteratorException || (err as Error).name === 'ExpiredIteratorException') {
          iterator = undefined;
          continue;
        }
        if (this.mapping.isStopped) break;
        this.deps.warn(`${this.spec.path}: reading ${this.shardId} failed: ${(err as Error).message}`);
        iterator = undefined;
        await this.mapping.sleep(this.deps.pollIntervalMs);
      }
    }
    this.closed = true;
    this.mapping.wakeAll();
  }

  /** Waits until every buffered record is handed to the function, or `ms`. */
  private async untilIdle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.buffered > 0 && Date.now() < deadline && !this.mapping.isStopped) await this.mapping.sleep(Math.min(50, deadline - Date.now()));
  }

  private async runLane(index: number): Promise<void> {
    const lane = this.lanes[index];
    for (;;) {
      if (this.mapping.isStopped) return;
      if (lane.length === 0) {
        if (this.closed) return;
        await this.mapping.sleep(this.deps.pollIntervalMs);
        continue;
      }
      if (this.spec.batchingWindowMs > 0 && lane.length < this.spec.batchSize && !this.closed && !this.mapping.flushing) {
        const waitMs = lane[0].readAt + this.spec.batchingWindowMs - Date.now();
        if (waitMs > 0) {
          await this.mapping.sleep(Math.min(waitMs, 50));
          continue;
        }
      }
      const batch: PendingRecord[] = [];
      let bytes = 0;
      while (lane.length && batch.length < this.spec.batchSize && bytes + lane[0].size <= MAX_PAYLOAD_BYTES) {
        bytes += lane[0].size;
        batch.push(lane.shift()!);
      }
      await this.process(batch);
    }
  }

  /** Runs one batch to its end: done, or skipped to the destination. Returns early only when the mapping stops. */
  private async process(batch: PendingRecord[]): Promise<void> {
    const work: WorkItem[] = [{ records: batch, retries: 0 }];
    while (work.length > 0) {
      if (this.mapping.isStopped) return;
      const item = work[0];
      const maxAge = this.spec.maximumRecordAgeSeconds;
      if (maxAge >= 0) {
        const oldest = Date.now() - maxAge * 1000;
        const expired = item.records.filter((r) => r.record.approximateArrivalTimestamp < oldest);
        if (expired.length) {
          await this.discard(expired, 'RecordAgeExceeded', undefined);
          item.records = item.records.filter((r) => !expired.includes(r));
          if (item.records.length === 0) {
            work.shift();
            continue;
          }
        }
      }
      const outcome = await this.invoke(item.records);
      if (this.mapping.isStopped) return;
      if (outcome.kind === 'success') {
        this.finish(item.records);
        work.shift();
        continue;
      }
      if (outcome.kind === 'partial') {
        this.mapping.stats.partialFailures++;
        this.finish(item.records.slice(0, outcome.index));
        item.records = item.records.slice(outcome.index);
        // A retry from a later checkpoint is the first retry of the records still to do.
        item.retries = outcome.index > 0 ? 1 : item.retries + 1;
      } else {
        this.mapping.stats.functionErrors++;
        if (outcome.kind === 'error' && this.spec.bisectOnError && item.records.length > 1) {
          const half = Math.ceil(item.records.length / 2);
          const halves = [item.records.slice(0, half), item.records.slice(half)].map((records) => ({ records, retries: item.retries }));
          work.splice(0, 1, ...halves);
          this.mapping.stats.bisections++;
          continue;
        }
        item.retries++;
      }
      if (this.spec.maximumRetryAttempts >= 0 && item.retries > this.spec.maximumRetryAttempts) {
        await this.discard(item.records, 'RetryAttemptsExhausted', outcome);
        work.shift();
        continue;
      }
      this.mapping.stats.retries++;
      await this.mapping.sleep(Math.min(2_000, 100 * 2 ** Math.min(item.retries - 1, 5)));
    }
  }

  private async invoke(records: PendingRecord[]): Promise<Outcome> {
    for (const r of records) r.invokes++;
    const source = { streamName: this.spec.streamName, shardId: this.shardId, region: this.spec.region };
    const event = {
      Records: records.map((r) => ({
        ...toLambdaRecord(r.record, source),
        invokeIdentityArn: this.spec.invokeIdentityArn,
        eventSourceARN: this.spec.streamArn,
      })),
    };
    this.mapping.stats.invocations++;
    this.mapping.stats.iteratorAgeMs = Date.now() - records[records.length - 1].record.approximateArrivalTimestamp;
    const result = await this.deps.invoke(JSON.stringify(event));
    if (result.functionError) return { kind: 'error', result };
    if (!this.spec.reportBatchItemFailures) return { kind: 'success' };
    let response: unknown;
    try {
      response = JSON.parse(result.payload);
    } catch {
      return { kind: 'malformed', result };
    }
    const failures = (response as { batchItemFailures?: unknown } | null)?.batchItemFailures;
    if (failures === undefined || failures === null) return { kind: 'success' };
    if (!Array.isArray(failures)) return this.malformed(result, 'batchItemFailures is not a list');
    if (failures.length === 0) return { kind: 'success' };
    let lowest: bigint | undefined;
    for (const f of failures) {
      const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || id === '' || !/^\d+$/.test(id)) return this.malformed(result, `itemIdentifier ${JSON.stringify(id)} is not a sequence number`);
      const n = BigInt(id);
      if (lowest === undefined || n < lowest) lowest = n;
    }
    const index = records.findIndex((r) => BigInt(r.record.sequenceNumber) === lowest);
    if (index < 0) return this.malformed(result, `itemIdentifier ${lowest} is not in the batch`);
    return { kind: 'partial', index, result };
  }

  private malformed(result: InvokeResult, why: string): Outcome {
    this.deps.warn(`${this.spec.path}: ${this.spec.functionName} answered a malformed partial batch response (${why}): the whole batch is retried`);
    return { kind: 'malformed', result };
  }

  private finish(records: PendingRecord[]): void {
    for (const r of records) this.finished.add(r.ordinal);
    this.mapping.stats.recordsDone += records.length;
    let advanced = false;
    while (this.finished.has(this.doneUpTo + 1)) {
      this.finished.delete(++this.doneUpTo);
      advanced = true;
    }
    if (advanced) {
      const sequence = this.sequenceByOrdinal.get(this.doneUpTo)!;
      for (const [o] of this.sequenceByOrdinal) {
        if (o > this.doneUpTo) break;
        this.sequenceByOrdinal.delete(o);
      }
      this.deps.checkpoints.set(this.spec.uuid, this.shardId, sequence);
    }
  }

  /** Skips records and tells the on-failure destination, with the message Lambda sends. */
  private async discard(records: PendingRecord[], condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded', outcome: Outcome | undefined): Promise<void> {
    const first = records[0].record;
    const last = records[records.length - 1].record;
    const result = outcome && 'result' in outcome ? outcome.result : undefined;
    const message = {
      requestContext: {
        requestId: result?.requestId ?? '00000000-0000-0000-0000-000000000000',
        functionArn: this.spec.functionArn,
        condition,
        approximateInvokeCount: records[0].invokes,
      },
      responseContext: {
        statusCode: 200,
        executedVersion: '$LATEST',
        ...(result?.functionError ? { functionError: result.functionError } : {}),
      },
      version: '1.0',
      timestamp: new Date().toISOString(),
      KinesisBatchInfo: {
        shardId: this.shardId,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.approximateArrivalTimestamp).toISOString(),
        batchSize: records.length,
        streamArn: this.spec.streamArn,
      },
    };
    if (this.spec.onFailureArn) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.deps.sendToDestination(this.spec.onFailureArn, JSON.stringify(message));
          this.mapping.stats.destinationMessages++;
          break;
        } catch (err) {
          if (attempt >= 3 || this.mapping.isStopped) {
            this.deps.warn(`${this.spec.path}: the on-failure destination refused the record of ${records.length} skipped records: ${(err as Error).message}`);
            break;
          }
          await this.mapping.sleep(200 * attempt);
        }
      }
    } else {
      this.deps.warn(`${this.spec.path}: ${records.length} records skipped (${condition}) with no on-failure destination`);
    }
    this.mapping.stats.recordsDiscarded += records.length;
    this.finish(records);
  }
}

type Outcome =
  | { kind: 'success' }
  | { kind: 'partial'; index: number; result: InvokeResult }
  | { kind: 'error'; result: InvokeResult }
  | { kind: 'malformed'; result: InvokeResult };

/** The lane of a partition key: a stable hash, so a key's records always share one lane, in order. */
export function laneOf(partitionKey: string, lanes: number): number {
  return createHash('md5').update(partitionKey).digest().readUInt32BE(0) % lanes;
}
