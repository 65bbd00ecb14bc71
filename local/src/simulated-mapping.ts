import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { toKinesisEvent } from './lambda-events';
import { ShardPosition, ShardReader } from './shard-reader';

export interface MappingStats {
  /** Invocations of the function. */
  invocations: number;
  /** Invocations that re-sent records after a reported batch item failure. */
  partialRedeliveries: number;
  /** Invocations that re-sent a whole batch after the invocation failed. */
  wholeBatchRetries: number;
  /** Records delivered, redeliveries included. */
  recordsDelivered: number;
}

export interface MappingOptions {
  readonly batchSize: number;
  /** Retries of one position before the test gives up (a real mapping would retry until the records expire). */
  readonly maxRetriesPerPosition?: number;
}

/**
 * Simulates a Kinesis event source mapping with ReportBatchItemFailures on one
 * shard: reads up to `batchSize` records from the checkpoint, invokes, and on a
 * reported failure moves the checkpoint to just before the reported record and
 * reads again from there; on a failed invocation it retries the whole batch.
 */
export async function runEventSourceMapping(
  reader: ShardReader,
  invoke: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>,
  options: MappingOptions,
): Promise<MappingStats> {
  const stats: MappingStats = { invocations: 0, partialRedeliveries: 0, wholeBatchRetries: 0, recordsDelivered: 0 };
  const maxRetries = options.maxRetriesPerPosition ?? 20;
  const source = { streamName: reader.streamName, shardId: reader.shardId };
  let position: ShardPosition = { type: 'TRIM_HORIZON' };
  let retries = 0;
  let retryKind: 'partial' | 'whole' | undefined;
  for (;;) {
    const records = await reader.read(position, options.batchSize);
    if (records.length === 0) return stats;
    stats.invocations++;
    stats.recordsDelivered += records.length;
    if (retryKind === 'partial') stats.partialRedeliveries++;
    if (retryKind === 'whole') stats.wholeBatchRetries++;
    let response: KinesisStreamBatchResponse | void;
    try {
      response = await invoke(toKinesisEvent(records, source));
    } catch {
      if (++retries > maxRetries) throw new Error(`gave up after ${maxRetries} retries of the batch at ${JSON.stringify(position)}`);
      retryKind = 'whole';
      continue;
    }
    const failure = response?.batchItemFailures?.[0]?.itemIdentifier;
    if (failure === undefined) {
      position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: records[records.length - 1].sequenceNumber };
      retries = 0;
      retryKind = undefined;
      continue;
    }
    if (!records.some((r) => r.sequenceNumber === failure)) {
      throw new Error(`the function reported ${failure}, which is not in the batch`);
    }
    const atSame = position.type === 'AT_SEQUENCE_NUMBER' && position.sequenceNumber === failure;
    retries = atSame ? retries + 1 : 1;
    if (retries > maxRetries) throw new Error(`gave up after ${maxRetries} redeliveries from ${failure}`);
    position = { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: failure };
    retryKind = 'partial';
  }
}

