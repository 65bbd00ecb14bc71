import type { KinesisStreamRecord } from 'aws-lambda';
import { decodeUtf8 } from './reading';

/**
 * A Kinesis record as the handlers keep it: the archive holds every one, the
 * dead-letter destination those that fail validation (with the reason).
 */
export interface RawRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** Epoch seconds, as Lambda reports it. */
  readonly approximateArrivalTimestamp: number;
  /** The payload as the device sent it, base64, as Lambda delivers it. */
  readonly data: string;
}

/** The raw record of a record Lambda delivered. */
export function rawRecord(record: KinesisStreamRecord): RawRecord {
  return {
    // The event id is "<shard id>:<sequence number>".
    shardId: record.eventID.split(':')[0],
    sequenceNumber: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
    data: record.kinesis.data,
  };
}

/** A payload decoded once, for whatever needs it. */
export interface DecodedPayload {
  /** The payload as text, when it is valid UTF-8. */
  readonly text?: string;
  /** The JSON value of the text, when it is JSON. */
  readonly json?: unknown;
}

export function decodePayload(record: RawRecord): DecodedPayload {
  const text = decodeUtf8(record.data);
  if (text === undefined) return {};
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    return { text };
  }
}

/**
 * The fields of a stored record, the same in the archive and in dead letters:
 * its Kinesis metadata and the payload exactly as the device sent it, as text
 * when it is valid UTF-8 (`payload`), else in base64 (`payloadBase64`). The
 * payload is kept as text, not as parsed JSON, because parsing loses what the
 * device sent: numbers beyond double precision, duplicate keys, spacing.
 */
export interface RecordFields {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** ISO-8601. */
  readonly approximateArrivalTimestamp: string;
  readonly payload?: string;
  readonly payloadBase64?: string;
}

export function recordFields(record: RawRecord, decoded: DecodedPayload = decodePayload(record)): RecordFields {
  return {
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    approximateArrivalTimestamp: new Date(record.approximateArrivalTimestamp * 1000).toISOString(),
    ...(decoded.text !== undefined ? { payload: decoded.text } : { payloadBase64: record.data }),
  };
}
