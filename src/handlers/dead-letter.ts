import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RawRecord, RecordFields, recordFields } from './raw-record';
import { InvalidReading } from './reading';
import { SQS_MESSAGE, SQS_REFUSED_CHARACTER } from '../private/service-limits';

/**
 * A record that failed validation, and why: the whole record (not UTF-8, not
 * JSON, its one reading invalid), or, for a record that holds many readings,
 * the readings of it that were refused (`invalidReadings`), each with its
 * place and reason, while its other readings were stored.
 */
export interface DeadLetter extends RawRecord {
  readonly reason: string;
  readonly invalidReadings?: readonly InvalidReading[];
}

/** A dead letter as stored: the reason, the refused readings when the record holds many, then the same fields as an archive line. */
export interface DeadLetterBody extends RecordFields {
  readonly reason: string;
  readonly invalidReadings?: readonly InvalidReading[];
  /** Set when the payload was cut to fit an SQS message. */
  readonly truncated?: boolean;
  /** Of a letter whose refused readings are listed over several SQS messages: this message's number, from 1. */
  readonly part?: number;
  /** Of a letter whose refused readings are listed over several SQS messages: how many messages there are. */
  readonly parts?: number;
}

export function deadLetterBody(letter: DeadLetter): DeadLetterBody {
  return {
    reason: letter.reason,
    ...(letter.invalidReadings ? { invalidReadings: letter.invalidReadings } : {}),
    ...recordFields(letter),
  };
}

/** Where dead letters go. `send` resolves with the letters it could not deliver. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<DeadLetter[]>;
}

const SQS_BATCH = SQS_MESSAGE.maxBatchEntries;
const SQS_MAX_BYTES = SQS_MESSAGE.maxBytes;
/** The largest dead-letter message: SQS's limit less a margin, so that a letter is never refused for its size. */
export const MAX_MESSAGE_BYTES = SQS_MAX_BYTES - 1024;

/**
 * An SQS queue: one message per record. A record whose message would pass
 * 255 KiB (SQS's 256 KiB limit less a margin) has its payload cut to fit, and
 * the message says so (`truncated: true`); choose the S3 destination to keep
 * payloads of any size. A record with more refused readings than one message
 * lists (a 1 MiB record can hold tens of thousands) has them listed over as
 * many messages as it takes (`part` of `parts`), the payload in the first.
 */
export class QueueDeadLetterSink implements DeadLetterSink {
  constructor(private readonly client: SQSClient, private readonly queueUrl: string) {}

  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    const failed = new Set<number>();
    // Each message with the letter it belongs to.
    const bodies: Array<{ letter: number; body: string }> = [];
    letters.forEach((letter, i) => {
      for (const body of letterMessages(deadLetterBody(letter))) bodies.push({ letter: i, body });
    });
    let group: number[] = [];
    let groupBytes = 0;
    const flush = async () => {
      if (group.length === 0) return;
      const indexes = group;
      group = [];
      groupBytes = 0;
      try {
        const out = await this.client.send(new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: indexes.map((i) => ({ Id: String(i), MessageBody: bodies[i].body })),
        }));
        for (const f of out.Failed ?? []) failed.add(bodies[Number(f.Id)].letter);
      } catch {
        for (const i of indexes) failed.add(bodies[i].letter);
      }
    };
    for (let i = 0; i < bodies.length; i++) {
      const bytes = Buffer.byteLength(bodies[i].body);
      if (group.length === SQS_BATCH || groupBytes + bytes > SQS_MAX_BYTES) await flush();
      group.push(i);
      groupBytes += bytes;
    }
    await flush();
    return [...failed].sort((a, b) => a - b).map((i) => letters[i]);
  }
}

const REFUSED = new RegExp(SQS_REFUSED_CHARACTER.source, 'gu');

/**
 * JSON that SQS accepts as a message body: every character outside SQS's set
 * (U+FFFE and U+FFFF; JSON.stringify already escapes control characters and
 * lone surrogates) written as a \u escape, so that the message parses back
 * to exactly the strings it was made of.
 */
export function sqsJson(value: unknown): string {
  return JSON.stringify(value).replace(REFUSED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Bytes of refused readings one message lists, at most, when they do not all fit beside the payload. */
export const MAX_LISTED_BYTES = 96 * 1_024;

/**
 * The SQS messages of a dead letter: one, its payload cut where the whole
 * would not fit; or, when its refused readings alone pass `MAX_LISTED_BYTES`,
 * one message per share of them (`part` of `parts`), the first with the
 * payload cut to fit beside its share, the others with the record's metadata
 * and their share only.
 */
export function letterMessages(body: DeadLetterBody): string[] {
  const listed = body.invalidReadings;
  if (!listed || Buffer.byteLength(sqsJson(listed)) <= MAX_LISTED_BYTES) return [fitMessage(body)];
  const shares: InvalidReading[][] = [];
  let share: InvalidReading[] = [];
  let bytes = 2;
  for (const entry of listed) {
    const size = Buffer.byteLength(sqsJson(entry)) + 1;
    if (share.length > 0 && bytes + size > MAX_LISTED_BYTES) {
      shares.push(share);
      share = [];
      bytes = 2;
    }
    share.push(entry);
    bytes += size;
  }
  if (share.length > 0) shares.push(share);
  const { payload, payloadBase64, ...meta } = body;
  return shares.map((part, i) => (i === 0
    ? fitMessage({ ...body, invalidReadings: part, part: 1, parts: shares.length })
    : sqsJson({ ...meta, invalidReadings: part, part: i + 1, parts: shares.length })));
}

/** The message of a dead letter, its payload cut where the whole would not fit one SQS message. */
export function fitMessage(body: DeadLetterBody): string {
  const full = sqsJson(body);
  if (Buffer.byteLength(full) <= MAX_MESSAGE_BYTES) return full;
  const { payload, payloadBase64, ...meta } = body;
  const key = payloadBase64 !== undefined ? 'payloadBase64' : 'payload';
  const value = payloadBase64 ?? payload ?? '';
  // Multi-byte characters and JSON escapes make the message longer in bytes
  // than the payload is in characters: shrink the cut until the message fits.
  let length = value.length;
  for (;;) {
    let cut = value.slice(0, length);
    if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1); // do not split a surrogate pair
    const message = sqsJson({ ...meta, [key]: cut, truncated: true });
    const bytes = Buffer.byteLength(message);
    if (bytes <= MAX_MESSAGE_BYTES || length === 0) return message;
    length = Math.min(length - 1, Math.floor((length * MAX_MESSAGE_BYTES) / bytes));
  }
}

/**
 * An S3 prefix: one gzip-free NDJSON object per batch, keyed by shard and the
 * first sequence number so that a retried batch overwrites its earlier object.
 * Keeps payloads of any size.
 */
export class BucketDeadLetterSink implements DeadLetterSink {
  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly prefix: string) {}

  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    if (letters.length === 0) return [];
    const first = letters[0];
    const key = `${this.prefix}${first.shardId}/${first.sequenceNumber}.ndjson`;
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: letters.map((l) => JSON.stringify(deadLetterBody(l))).join('\n') + '\n',
        ContentType: 'application/x-ndjson',
      }));
      return [];
    } catch {
      return [...letters];
    }
  }
}
