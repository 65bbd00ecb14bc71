import { gzipSync } from 'zlib';
import { decodePayload, DecodedPayload, RawRecord, recordFields } from './raw-record';
import { timestampMillis } from './reading';

/** One archive object: the records of a batch that fall in one hour of event time. */
export interface ArchiveObject {
  readonly key: string;
  readonly records: RawRecord[];
  /** The object's NDJSON lines, one per record. */
  readonly lines: string[];
}

/**
 * The event time of a record: its payload's timestamp field when it has a
 * readable one (for a JSON array of readings, its first reading's; for a
 * gateway's batch, the batch's own shared field), otherwise the time Kinesis
 * received it (so for a KPL aggregate, which is not JSON). A record of many
 * readings is kept whole, as sent, in one partition.
 */
export function eventTime(record: RawRecord, timestampField: string, decoded: DecodedPayload = decodePayload(record)): Date {
  const payload = Array.isArray(decoded.json) ? decoded.json[0] : decoded.json;
  // The same reading of the time as the processor's, so both agree on the hour.
  const time = typeof payload === 'object' && payload !== null && Object.prototype.hasOwnProperty.call(payload, timestampField)
    ? timestampMillis((payload as Record<string, unknown>)[timestampField])
    : undefined;
  return new Date(time ?? record.approximateArrivalTimestamp * 1000);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `year=YYYY/month=MM/day=DD/hour=HH/`, the Hive-style partition that Athena and Glue read. */
export function partitionOf(time: Date): string {
  return `year=${time.getUTCFullYear()}/month=${pad(time.getUTCMonth() + 1)}/day=${pad(time.getUTCDate())}/hour=${pad(time.getUTCHours())}/`;
}

/**
 * Splits a batch by the hour of event time. Each object is named after the
 * shard and the first sequence number it holds: deterministic, so a retried
 * batch overwrites its earlier objects instead of adding copies.
 */
export function planArchive(records: readonly RawRecord[], prefix: string, timestampField: string): ArchiveObject[] {
  const byPartition = new Map<string, { records: RawRecord[]; lines: string[] }>();
  for (const record of records) {
    const decoded = decodePayload(record);
    const partition = partitionOf(eventTime(record, timestampField, decoded));
    let group = byPartition.get(partition);
    if (!group) {
      group = { records: [], lines: [] };
      byPartition.set(partition, group);
    }
    group.records.push(record);
    group.lines.push(toLine(record, decoded));
  }
  return [...byPartition.entries()].map(([partition, group]) => ({
    key: `${prefix}${partition}${group.records[0].shardId}-${group.records[0].sequenceNumber}.ndjson.gz`,
    ...group,
  }));
}

/** One JSON line per record: its Kinesis metadata and its payload (see `recordFields`). */
export function toLine(record: RawRecord, decoded: DecodedPayload = decodePayload(record)): string {
  return JSON.stringify(recordFields(record, decoded));
}

/** gzip-compressed newline-delimited JSON. */
export function gzipLines(lines: readonly string[]): Buffer {
  return gzipSync(lines.join('\n') + '\n');
}
