/** Reads a shard of a stream the way an event source mapping does. */
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ShardIteratorType } from '@aws-sdk/client-kinesis';

/** One record as GetRecords returned it. */
export interface StreamRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Epoch milliseconds. */
  readonly approximateArrivalTimestamp: number;
}

export type ShardPosition =
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; readonly sequenceNumber: string };

export class ShardReader {
  constructor(private readonly client: KinesisClient, readonly streamName: string, readonly shardId: string) {}

  /** Up to `limit` records from a position (GetShardIterator, then GetRecords until the limit or the tip). */
  async read(position: ShardPosition, limit: number): Promise<StreamRecord[]> {
    const it = await this.client.send(new GetShardIteratorCommand({
      StreamName: this.streamName,
      ShardId: this.shardId,
      ShardIteratorType: position.type as ShardIteratorType,
      StartingSequenceNumber: position.type === 'TRIM_HORIZON' ? undefined : position.sequenceNumber,
    }));
    let iterator = it.ShardIterator;
    const records: StreamRecord[] = [];
    while (iterator && records.length < limit) {
      const out = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit - records.length }));
      for (const r of out.Records ?? []) {
        records.push({
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          data: r.Data!,
          approximateArrivalTimestamp: r.ApproximateArrivalTimestamp!.getTime(),
        });
      }
      if ((out.Records ?? []).length === 0 || out.MillisBehindLatest === 0) break;
      iterator = out.NextShardIterator;
    }
    return records;
  }

  /** Every record of the shard, in order. */
  async readAll(): Promise<StreamRecord[]> {
    const all: StreamRecord[] = [];
    let position: ShardPosition = { type: 'TRIM_HORIZON' };
    for (;;) {
      const records = await this.read(position, 10_000);
      if (records.length === 0) return all;
      all.push(...records);
      position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: records[records.length - 1].sequenceNumber };
    }
  }
}

