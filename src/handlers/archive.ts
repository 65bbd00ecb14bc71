import { gzipSync } from 'zlib';
import { decodeUtf8, parseTimestamp } from './reading';

/** The part of a Kinesis record that the archive keeps. */
export interface RawRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** Epoch seconds, as Lambda reports it. */
  readonly approximateArrivalTimestamp: number;
  /** Base64, as Lambda delivers it. */
  readonly data: string;
}

/** One archive object: the records of a batch that fall in one hour of event time. */
export interface ArchiveObject {
  readonly key: string;
  readonly records: RawRecord[];
}

/**
 * The event time of a record: its payload's timestamp field when it has a
 * readable one, otherwise the time Kinesis received it.
 */
export function eventTime(record: RawRecord, timestampField: string): Date {
  const text = decodeUtf8(record.data);
  if (text !== undefined) {
    try {
      const payload = JSON.parse(text);
      // The same reading of the time as the processor's, so both agree on the hour.
      const time = typeof payload === 'object' && payload !== null && Object.prototype.hasOwnProperty.call(payload, timestampField)
        ? parseTimestamp(payload[timestampField])
        : undefined;
      if (time !== undefined) return new Date(time);
    } catch {
      // not JSON: archived all the same, under its arrival time
    }
  }
  return new Date(record.approximateArrivalTimestamp * 1000);
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
  const byPartition = new Map<string, RawRecord[]>();
  for (const record of records) {
    const partition = partitionOf(eventTime(record, timestampField));
    const list = byPartition.get(partition) ?? [];
    list.push(record);
    byPartition.set(partition, list);
  }
  return [...byPartition.entries()].map(([partition, list]) => ({
    key: `${prefix}${partition}${list[0].shardId}-${list[0].sequenceNumber}.ndjson.gz`,
    records: list,
  }));
}

/**
 * One JSON line per record: the payload as the device sent it (a JSON value
 * when it parses, else the UTF-8 text, else base64) with its Kinesis metadata.
 */
export function toLine(record: RawRecord): string {
  const text = decodeUtf8(record.data);
  let payload: Record<string, unknown>;
  if (text === undefined) {
    payload = { dataBase64: record.data };
  } else {
    try {
      payload = { data: JSON.parse(text) };
    } catch {
      payload = { text };
    }
  }
  return JSON.stringify({
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    approximateArrivalTimestamp: new Date(record.approximateArrivalTimestamp * 1000).toISOString(),
    ...payload,
  });
}

/** gzip-compressed newline-delimited JSON. */
export function archiveBody(records: readonly RawRecord[]): Buffer {
  return gzipSync(records.map(toLine).join('\n') + '\n');
}
